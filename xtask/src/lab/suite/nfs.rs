//! Lab checks: see `checks()`.

use super::Check;

/// The checks of this file, in order.
pub fn checks() -> Vec<Check> {
    vec![]
}
