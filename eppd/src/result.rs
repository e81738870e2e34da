//! EPP result codes (RFC 5730 section 3) and [`EppError`], the error every layer of eppd
//! answers with: the parser, the session and the registry core. An error carries its
//! code, a message for the `<msg>` element (naming the offending element or value) and, when
//! useful, the offending value for `<extValue>`. Writing them as XML is
//! [`crate::response`]'s job.

use std::fmt;

/// An EPP result code with the RFC 5730 text.
#[allow(missing_docs)] // Each variant is the RFC's text; see `text()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    Success,
    SuccessPending,
    SuccessNoMessages,
    SuccessAckToDequeue,
    SuccessEndingSession,
    UnknownCommand,
    CommandSyntaxError,
    CommandUseError,
    RequiredParameterMissing,
    ParameterValueRangeError,
    ParameterValueSyntaxError,
    UnimplementedProtocolVersion,
    UnimplementedCommand,
    UnimplementedOption,
    UnimplementedExtension,
    BillingFailure,
    ObjectNotEligibleForRenewal,
    ObjectNotEligibleForTransfer,
    AuthenticationError,
    AuthorizationError,
    InvalidAuthorizationInformation,
    ObjectPendingTransfer,
    ObjectNotPendingTransfer,
    ObjectExists,
    ObjectDoesNotExist,
    ObjectStatusProhibitsOperation,
    ObjectAssociationProhibitsOperation,
    ParameterValuePolicyError,
    UnimplementedObjectService,
    DataManagementPolicyViolation,
    CommandFailed,
    CommandFailedClosing,
    AuthenticationErrorClosing,
    SessionLimitExceededClosing,
}

impl ResultCode {
    /// Every code, in numeric order.
    pub const ALL: [ResultCode; 34] = [
        ResultCode::Success,
        ResultCode::SuccessPending,
        ResultCode::SuccessNoMessages,
        ResultCode::SuccessAckToDequeue,
        ResultCode::SuccessEndingSession,
        ResultCode::UnknownCommand,
        ResultCode::CommandSyntaxError,
        ResultCode::CommandUseError,
        ResultCode::RequiredParameterMissing,
        ResultCode::ParameterValueRangeError,
        ResultCode::ParameterValueSyntaxError,
        ResultCode::UnimplementedProtocolVersion,
        ResultCode::UnimplementedCommand,
        ResultCode::UnimplementedOption,
        ResultCode::UnimplementedExtension,
        ResultCode::BillingFailure,
        ResultCode::ObjectNotEligibleForRenewal,
        ResultCode::ObjectNotEligibleForTransfer,
        ResultCode::AuthenticationError,
        ResultCode::AuthorizationError,
        ResultCode::InvalidAuthorizationInformation,
        ResultCode::ObjectPendingTransfer,
        ResultCode::ObjectNotPendingTransfer,
        ResultCode::ObjectExists,
        ResultCode::ObjectDoesNotExist,
        ResultCode::ObjectStatusProhibitsOperation,
        ResultCode::ObjectAssociationProhibitsOperation,
        ResultCode::ParameterValuePolicyError,
        ResultCode::UnimplementedObjectService,
        ResultCode::DataManagementPolicyViolation,
        ResultCode::CommandFailed,
        ResultCode::CommandFailedClosing,
        ResultCode::AuthenticationErrorClosing,
        ResultCode::SessionLimitExceededClosing,
    ];

    /// The four-digit code.
    pub fn code(self) -> u16 {
        use ResultCode::*;
        match self {
            Success => 1000,
            SuccessPending => 1001,
            SuccessNoMessages => 1300,
            SuccessAckToDequeue => 1301,
            SuccessEndingSession => 1500,
            UnknownCommand => 2000,
            CommandSyntaxError => 2001,
            CommandUseError => 2002,
            RequiredParameterMissing => 2003,
            ParameterValueRangeError => 2004,
            ParameterValueSyntaxError => 2005,
            UnimplementedProtocolVersion => 2100,
            UnimplementedCommand => 2101,
            UnimplementedOption => 2102,
            UnimplementedExtension => 2103,
            BillingFailure => 2104,
            ObjectNotEligibleForRenewal => 2105,
            ObjectNotEligibleForTransfer => 2106,
            AuthenticationError => 2200,
            AuthorizationError => 2201,
            InvalidAuthorizationInformation => 2202,
            ObjectPendingTransfer => 2300,
            ObjectNotPendingTransfer => 2301,
            ObjectExists => 2302,
            ObjectDoesNotExist => 2303,
            ObjectStatusProhibitsOperation => 2304,
            ObjectAssociationProhibitsOperation => 2305,
            ParameterValuePolicyError => 2306,
            UnimplementedObjectService => 2307,
            DataManagementPolicyViolation => 2308,
            CommandFailed => 2400,
            CommandFailedClosing => 2500,
            AuthenticationErrorClosing => 2501,
            SessionLimitExceededClosing => 2502,
        }
    }

    /// The code for a number, if RFC 5730 defines it.
    pub fn from_code(code: u16) -> Option<ResultCode> {
        ResultCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The RFC 5730 text.
    pub fn text(self) -> &'static str {
        use ResultCode::*;
        match self {
            Success => "Command completed successfully",
            SuccessPending => "Command completed successfully; action pending",
            SuccessNoMessages => "Command completed successfully; no messages",
            SuccessAckToDequeue => "Command completed successfully; ack to dequeue",
            SuccessEndingSession => "Command completed successfully; ending session",
            UnknownCommand => "Unknown command",
            CommandSyntaxError => "Command syntax error",
            CommandUseError => "Command use error",
            RequiredParameterMissing => "Required parameter missing",
            ParameterValueRangeError => "Parameter value range error",
            ParameterValueSyntaxError => "Parameter value syntax error",
            UnimplementedProtocolVersion => "Unimplemented protocol version",
            UnimplementedCommand => "Unimplemented command",
            UnimplementedOption => "Unimplemented option",
            UnimplementedExtension => "Unimplemented extension",
            BillingFailure => "Billing failure",
            ObjectNotEligibleForRenewal => "Object is not eligible for renewal",
            ObjectNotEligibleForTransfer => "Object is not eligible for transfer",
            AuthenticationError => "Authentication error",
            AuthorizationError => "Authorization error",
            InvalidAuthorizationInformation => "Invalid authorization information",
            ObjectPendingTransfer => "Object pending transfer",
            ObjectNotPendingTransfer => "Object not pending transfer",
            ObjectExists => "Object exists",
            ObjectDoesNotExist => "Object does not exist",
            ObjectStatusProhibitsOperation => "Object status prohibits operation",
            ObjectAssociationProhibitsOperation => "Object association prohibits operation",
            ParameterValuePolicyError => "Parameter value policy error",
            UnimplementedObjectService => "Unimplemented object service",
            DataManagementPolicyViolation => "Data management policy violation",
            CommandFailed => "Command failed",
            CommandFailedClosing => "Command failed; server closing connection",
            AuthenticationErrorClosing => "Authentication error; server closing connection",
            SessionLimitExceededClosing => "Session limit exceeded; server closing connection",
        }
    }

    /// Success codes are 1xxx.
    pub fn is_success(self) -> bool {
        self.code() < 2000
    }

    /// 1500 and 25xx: the server closes the connection after answering.
    pub fn closes_session(self) -> bool {
        matches!(self.code(), 1500 | 2500..=2502)
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.text())
    }
}

/// A failed command: the code, a message for `<msg>` and optionally the offending value,
/// written as `<extValue>` with the message as the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EppError {
    /// The result code (a 2xxx code).
    pub code: ResultCode,
    /// What went wrong, naming the element or value (goes after the RFC text in `<msg>`).
    pub message: String,
    /// The offending value, when there is one (as text; written in `<extValue>`).
    pub value: Option<String>,
}

impl EppError {
    /// An error with a message and no value.
    pub fn new(code: ResultCode, message: impl Into<String>) -> EppError {
        EppError {
            code,
            message: message.into(),
            value: None,
        }
    }

    /// Adds the offending value.
    pub fn with_value(mut self, value: impl Into<String>) -> EppError {
        self.value = Some(value.into());
        self
    }

    /// 2001, command syntax error.
    pub fn syntax(message: impl Into<String>) -> EppError {
        EppError::new(ResultCode::CommandSyntaxError, message)
    }

    /// 2003, required parameter missing.
    pub fn missing(message: impl Into<String>) -> EppError {
        EppError::new(ResultCode::RequiredParameterMissing, message)
    }

    /// 2004, parameter value range error.
    pub fn range(message: impl Into<String>) -> EppError {
        EppError::new(ResultCode::ParameterValueRangeError, message)
    }

    /// 2005, parameter value syntax error.
    pub fn value_syntax(message: impl Into<String>) -> EppError {
        EppError::new(ResultCode::ParameterValueSyntaxError, message)
    }
}

impl fmt::Display for EppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for EppError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_round_trip() {
        let codes: Vec<u16> = ResultCode::ALL.iter().map(|c| c.code()).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        for c in ResultCode::ALL {
            assert_eq!(ResultCode::from_code(c.code()), Some(c));
        }
        assert_eq!(ResultCode::from_code(1234), None);
        assert!(ResultCode::SuccessEndingSession.closes_session());
        assert!(ResultCode::AuthenticationErrorClosing.closes_session());
        assert!(!ResultCode::CommandFailed.closes_session());
    }
}
