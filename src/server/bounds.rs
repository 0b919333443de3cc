//! Length caps on every string a call carries in. Whatever a client sends is held, logged
//! nowhere, but copied into reports and the store; a 4 MB `tenant_reference` on each of 1,000
//! reports is how a disk fills. Past a cap the call is INVALID_ARGUMENT, naming the field.

use tonic::Status;

/// `tenant_reference` (the operator's own id of an upload or a hash batch), bytes.
pub const MAX_REFERENCE: usize = 256;
/// A content type, bytes.
pub const MAX_CONTENT_TYPE: usize = 128;
/// A hash in hex (the longest, SHA-256 and PDQ, have 64 characters), bytes.
pub const MAX_HEX: usize = 128;
/// A list name (lists themselves allow 64), format name, category or unit, bytes.
pub const MAX_NAME: usize = 128;
/// A report id, bytes.
pub const MAX_ID: usize = 64;
/// Report ids in one AckReports call.
pub const MAX_IDS: usize = 10_000;

/// INVALID_ARGUMENT when `value` is longer than `max` bytes.
pub fn check(field: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.len() > max {
        return Err(Status::invalid_argument(format!(
            "{field} is {} bytes; at most {max}",
            value.len()
        )));
    }
    Ok(())
}

/// INVALID_ARGUMENT when there are more than `max` values or any is longer than `max_len`.
pub fn check_all(field: &str, values: &[String], max: usize, max_len: usize) -> Result<(), Status> {
    if values.len() > max {
        return Err(Status::invalid_argument(format!(
            "{} {field} in one call; at most {max}",
            values.len()
        )));
    }
    values.iter().try_for_each(|v| check(field, v, max_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_name_the_field() {
        assert!(check("tenant_reference", &"x".repeat(256), MAX_REFERENCE).is_ok());
        let e = check("tenant_reference", &"x".repeat(257), MAX_REFERENCE).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.message().contains("tenant_reference is 257 bytes"),
            "{}",
            e.message()
        );
        let ids = vec!["a".to_string(); 3];
        assert!(check_all("ids", &ids, 3, 1).is_ok());
        assert!(check_all("ids", &ids, 2, 1).is_err());
        assert!(check_all("ids", &["ab".to_string()], 3, 1).is_err());
    }
}
