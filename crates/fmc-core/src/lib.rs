//! Shared vocabulary of fmc.
//!
//! Architecture invariant: this crate does no IO and knows nothing of tokio, SSH,
//! YAML or templates. It defines the data every other crate exchanges: values and
//! source spans, secrets, the transport contract ([`Connection`]), the module
//! contract ([`ModuleFactory`] / [`PreparedModule`]), typed [`Facts`] and the
//! [`Event`] stream the runner emits for reporters.

pub mod event;
pub mod facts;
pub mod lenient;
pub mod module;
pub mod secret;
pub mod shell;
pub mod span;
pub mod transport;

pub use event::{Event, HostRecap, HostStatus};
pub use facts::Facts;
pub use module::{
    Action, CheckSupport, ControllerFiles, FileDiff, ModuleCtx, ModuleError, ModuleFactory,
    ModuleInfo, Outcome, ParamError, Plan, PreparedModule, Probe,
};
pub use secret::{REDACTED, Secret};
pub use span::Span;
pub use transport::{BecomeSpec, Connection, ExecOutput, ExecRequest, TransportError};

/// Every variable, module parameter and result is a JSON value. `preserve_order`
/// is enabled workspace-wide so maps keep the order they were written in.
pub type Value = serde_json::Value;
/// A JSON object with insertion order preserved.
pub type Map = serde_json::Map<String, Value>;
