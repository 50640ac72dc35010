//! HTTP/2 error codes (RFC 9113 §7).

use std::fmt;

/// An HTTP/2 error code, as carried by RST_STREAM and GOAWAY frames.
///
/// Any 32-bit value may appear on the wire; codes this crate does not know
/// have no special meaning (RFC 9113 §7) and print as hexadecimal.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Reason(pub u32);

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl Reason {
            $($(#[$doc])* pub const $name: Reason = Reason($value);)*

            /// The name the RFC gives this code (`"PROTOCOL_ERROR"`), or
            /// `None` for a code it does not define.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// The code with the given RFC name, if there is one.
            pub fn from_name(name: &str) -> Option<Reason> {
                match name {
                    $(stringify!($name) => Some(Reason::$name),)*
                    _ => None,
                }
            }
        }
    };
}

reasons! {
    /// Not an error: a graceful shutdown or a stream ended on purpose.
    NO_ERROR = 0x0;
    /// The peer broke a protocol rule and no more specific code applies.
    PROTOCOL_ERROR = 0x1;
    /// The endpoint hit an unexpected internal failure.
    INTERNAL_ERROR = 0x2;
    /// The peer sent more than a flow-control window allowed.
    FLOW_CONTROL_ERROR = 0x3;
    /// A SETTINGS frame was not acknowledged in time.
    SETTINGS_TIMEOUT = 0x4;
    /// A frame arrived for a stream that was already half-closed or closed.
    STREAM_CLOSED = 0x5;
    /// A frame had an invalid length.
    FRAME_SIZE_ERROR = 0x6;
    /// The stream was refused before any processing; it is safe to retry.
    REFUSED_STREAM = 0x7;
    /// The stream is no longer needed.
    CANCEL = 0x8;
    /// The field-compression context could not be kept.
    COMPRESSION_ERROR = 0x9;
    /// A CONNECT tunnel was reset or closed abnormally.
    CONNECT_ERROR = 0xa;
    /// The peer is behaving in a way that may generate excessive load.
    ENHANCE_YOUR_CALM = 0xb;
    /// The transport does not meet minimum security requirements.
    INADEQUATE_SECURITY = 0xc;
    /// HTTP/1.1 must be used instead of HTTP/2 for this request.
    HTTP_1_1_REQUIRED = 0xd;
}

impl Reason {
    /// The code as a number.
    pub const fn value(self) -> u32 {
        self.0
    }
}

impl From<u32> for Reason {
    fn from(value: u32) -> Reason {
        Reason(value)
    }
}

impl From<Reason> for u32 {
    fn from(reason: Reason) -> u32 {
        reason.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Reason({:#x})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9113_7_names_and_values() {
        assert_eq!(Reason::NO_ERROR.0, 0);
        assert_eq!(Reason::FRAME_SIZE_ERROR.0, 6);
        assert_eq!(Reason::HTTP_1_1_REQUIRED.0, 0xd);
        assert_eq!(Reason::ENHANCE_YOUR_CALM.to_string(), "ENHANCE_YOUR_CALM");
        assert_eq!(format!("{:?}", Reason::CANCEL), "CANCEL");
        for code in 0..=0xd {
            let name = Reason(code).name().expect("defined code has a name");
            assert_eq!(Reason::from_name(name), Some(Reason(code)));
        }
    }

    #[test]
    fn rfc9113_7_unknown_codes_print_as_hex() {
        assert_eq!(Reason(0xe).name(), None);
        assert_eq!(Reason(0x1f).to_string(), "0x1f");
        assert_eq!(format!("{:?}", Reason(0xdead)), "Reason(0xdead)");
        assert_eq!(Reason::from_name("NOT_A_CODE"), None);
    }
}
