//! The few pieces of the protobuf wire format that the core's hand-read
//! messages need (the health and reflection services): varints,
//! length-delimited fields, and a walk over a message's fields that
//! checks every length against the buffer. Crate-private.

use bytes::{BufMut, BytesMut};

/// What is wrong with a message.
pub(crate) type WireError = &'static str;

/// A field's value, by wire type (fixed-width values are skipped).
pub(crate) enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn put_varint(b: &mut BytesMut, mut n: u64) {
    while n >= 0x80 {
        b.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    b.put_u8(n as u8);
}

/// A length-delimited field.
pub(crate) fn put_bytes(b: &mut BytesMut, field: u64, v: &[u8]) {
    put_varint(b, (field << 3) | 2);
    put_varint(b, v.len() as u64);
    b.put_slice(v);
}

/// A varint field.
pub(crate) fn put_uint(b: &mut BytesMut, field: u64, n: u64) {
    put_varint(b, field << 3);
    put_varint(b, n);
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut n = 0u64;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return Err("truncated varint");
        };
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err("varint overflows 64 bits");
        }
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err("varint longer than 10 bytes")
}

/// Call `f` with each varint and length-delimited field of a message;
/// fixed-width fields are skipped, groups refused. `fault` makes the
/// caller's error from the format's own faults.
pub(crate) fn walk<'a, E>(
    buf: &'a [u8],
    fault: impl Fn(WireError) -> E,
    f: impl FnMut(u64, Value<'a>) -> Result<(), E>,
) -> Result<(), E> {
    fields(buf, f).map_err(|e| match e {
        Stop::Wire(w) => fault(w),
        Stop::Caller(e) => e,
    })
}

enum Stop<E> {
    Wire(WireError),
    Caller(E),
}

impl<E> From<WireError> for Stop<E> {
    fn from(w: WireError) -> Self {
        Stop::Wire(w)
    }
}

fn fields<'a, E>(
    buf: &'a [u8],
    mut f: impl FnMut(u64, Value<'a>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let field = key >> 3;
        if field == 0 {
            return Err(Stop::Wire("field number 0"));
        }
        let value = match key & 7 {
            0 => Value::Varint(read_varint(buf, &mut pos)?),
            1 | 5 => {
                let len = if key & 7 == 1 { 8 } else { 4 };
                if buf.len() - pos < len {
                    return Err(Stop::Wire("truncated fixed-width field"));
                }
                pos += len;
                continue;
            }
            2 => {
                let len = read_varint(buf, &mut pos)?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= buf.len() - pos)
                    .ok_or("length past the end")?;
                let v = &buf[pos..pos + len];
                pos += len;
                Value::Bytes(v)
            }
            _ => return Err(Stop::Wire("unsupported wire type")),
        };
        f(field, value).map_err(Stop::Caller)?;
    }
    Ok(())
}
