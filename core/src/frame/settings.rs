//! SETTINGS frames (RFC 9113 §6.5) and the range of each parameter.
//!
//! Applying settings, acknowledging them and the role-specific rules (a
//! server must not send ENABLE_PUSH = 1) belong to the connection layer.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{FrameErrorKind, conn, conn_protocol, conn_size};
use super::head::{
    DEFAULT_MAX_FRAME_SIZE, FrameHeader, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, flags, frame_type,
    put_header,
};
use super::{FrameError, Reason, StreamId};

/// The length of one parameter: a 16-bit identifier and a 32-bit value.
const PARAM_LEN: usize = 6;

/// A SETTINGS frame: the parameters the sender announces, or an
/// acknowledgement of the peer's.
///
/// `None` means the parameter was not in the frame. When a frame names a
/// parameter twice, the last value wins; parameters with identifiers this
/// crate does not know are skipped (RFC 9113 §6.5.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Settings {
    /// ACK: acknowledges the peer's SETTINGS. An acknowledgement carries no
    /// parameters; the fields below are ignored when encoding one.
    pub ack: bool,
    /// SETTINGS_HEADER_TABLE_SIZE (0x1): the HPACK dynamic table size the
    /// sender's decoder allows.
    pub header_table_size: Option<u32>,
    /// SETTINGS_ENABLE_PUSH (0x2): whether server push is allowed.
    pub enable_push: Option<bool>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (0x3).
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE (0x4): at most 2^31-1.
    pub initial_window_size: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE (0x5): 2^14 to 2^24-1.
    pub max_frame_size: Option<u32>,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (0x6): advisory.
    pub max_header_list_size: Option<u32>,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8, RFC 8441).
    pub enable_connect_protocol: Option<bool>,
}

impl Settings {
    /// Identifier of SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// Identifier of SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// Identifier of SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// Identifier of SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// Identifier of SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// Identifier of SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    /// Identifier of SETTINGS_ENABLE_CONNECT_PROTOCOL.
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

    /// An acknowledgement of the peer's SETTINGS.
    pub fn ack() -> Settings {
        Settings {
            ack: true,
            ..Settings::default()
        }
    }

    /// The parameters this frame carries, in identifier order, as they are
    /// written on the wire.
    pub fn params(&self) -> impl Iterator<Item = (u16, u32)> + '_ {
        let flag = |b: Option<bool>| b.map(u32::from);
        let all = [
            (Self::HEADER_TABLE_SIZE, self.header_table_size),
            (Self::ENABLE_PUSH, flag(self.enable_push)),
            (Self::MAX_CONCURRENT_STREAMS, self.max_concurrent_streams),
            (Self::INITIAL_WINDOW_SIZE, self.initial_window_size),
            (Self::MAX_FRAME_SIZE, self.max_frame_size),
            (Self::MAX_HEADER_LIST_SIZE, self.max_header_list_size),
            (
                Self::ENABLE_CONNECT_PROTOCOL,
                flag(self.enable_connect_protocol),
            ),
        ];
        let ack = self.ack;
        all.into_iter()
            .filter_map(move |(id, value)| if ack { None } else { Some((id, value?)) })
    }

    /// The length of the encoded payload.
    pub fn payload_len(&self) -> usize {
        self.params().count() * PARAM_LEN
    }

    /// Records one parameter, checking its range. Unknown identifiers are
    /// ignored.
    pub fn set(&mut self, id: u16, value: u32) -> Result<(), FrameError> {
        let invalid = |code| conn(code, FrameErrorKind::InvalidSetting { id, value });
        let boolean = |value| match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(invalid(Reason::PROTOCOL_ERROR)),
        };
        match id {
            Self::HEADER_TABLE_SIZE => self.header_table_size = Some(value),
            Self::ENABLE_PUSH => self.enable_push = Some(boolean(value)?),
            Self::MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(value),
            Self::INITIAL_WINDOW_SIZE => {
                if value > MAX_WINDOW_SIZE {
                    return Err(invalid(Reason::FLOW_CONTROL_ERROR));
                }
                self.initial_window_size = Some(value);
            }
            Self::MAX_FRAME_SIZE => {
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) {
                    return Err(invalid(Reason::PROTOCOL_ERROR));
                }
                self.max_frame_size = Some(value);
            }
            Self::MAX_HEADER_LIST_SIZE => self.max_header_list_size = Some(value),
            Self::ENABLE_CONNECT_PROTOCOL => {
                self.enable_connect_protocol = Some(boolean(value)?);
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn decode(head: &FrameHeader, payload: Bytes) -> Result<Settings, FrameError> {
        if !head.stream_id.is_zero() {
            return Err(conn_protocol(FrameErrorKind::StreamIdMustBeZero));
        }
        if head.has(flags::ACK) {
            if !payload.is_empty() {
                return Err(conn_size(FrameErrorKind::SettingsAckWithPayload));
            }
            return Ok(Settings::ack());
        }
        if payload.len() % PARAM_LEN != 0 {
            return Err(conn_size(FrameErrorKind::BadLength));
        }
        let mut settings = Settings::default();
        for param in payload.chunks_exact(PARAM_LEN) {
            if let [i0, i1, v0, v1, v2, v3] = *param {
                let id = u16::from_be_bytes([i0, i1]);
                settings.set(id, u32::from_be_bytes([v0, v1, v2, v3]))?;
            }
        }
        Ok(settings)
    }

    /// Appends the frame to `dst`: the parameters that are `Some`, in
    /// identifier order, or an empty acknowledgement.
    pub fn encode(&self, dst: &mut BytesMut) {
        let bits = if self.ack { flags::ACK } else { 0 };
        put_header(
            dst,
            self.payload_len(),
            frame_type::SETTINGS,
            bits,
            StreamId::ZERO,
        );
        for (id, value) in self.params() {
            dst.put_u16(id);
            dst.put_u32(value);
        }
    }
}
