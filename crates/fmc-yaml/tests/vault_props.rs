//! Vault decryption never panics on arbitrary or damaged payloads.

#![allow(clippy::unwrap_used)]

use fmc_core::Secret;
use fmc_yaml::vault::{self, VaultSecret};
use proptest::prelude::*;

fn ring() -> Vec<VaultSecret> {
    vec![VaultSecret {
        label: None,
        password: Secret::new("pw".to_string()),
    }]
}

proptest! {
    // Key derivation is deliberately slow; a few dozen cases per property suffice.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_payload_text_is_an_error(body in "(1\\.[0-9];AES256(;[a-z]*)?)?(\n[0-9a-f\n ]{0,400}|.{0,200})") {
        let text = format!("$ANSIBLE_VAULT;{body}");
        // Random text cannot carry a valid HMAC for this password.
        prop_assert!(vault::decrypt(&text, &ring()).is_err());
        prop_assert!(vault::decrypt(&text, &[]).is_err());
        fmc_yaml::set_vault_secrets(ring());
        prop_assert!(fmc_yaml::parse(&text, "f.yml").is_err());
    }

    #[test]
    fn damaged_payload_is_an_error_or_the_plaintext(
        plain in ".{0,40}",
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let env = fmc_yaml::encrypt(&plain, "pw", Some("l"));
        let mut bytes = env.into_bytes();
        let i = pos.index(bytes.len());
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] = byte;
        }
        let text = String::from_utf8_lossy(&bytes);
        match vault::decrypt(&text, &ring()) {
            // Changes that keep the bytes (hex case, whitespace) still decrypt, and
            // only to the original text.
            Ok(p) => prop_assert_eq!(p, plain),
            Err(e) => {
                let e = e.to_string();
                prop_assert!(
                    e.starts_with("malformed vault data: ")
                        || e.starts_with("vault decryption failed (wrong password?)"),
                    "{}", e
                );
            }
        }
    }
}
