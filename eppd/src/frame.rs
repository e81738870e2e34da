//! RFC 5734 section 4 framing: every EPP message travels as a 4-byte big-endian total length
//! (the four header bytes included) followed by the XML. This module is sans-I/O: the
//! [`FrameDecoder`] takes whatever the transport delivered (any fragmentation, several
//! frames at once) and hands out complete frames; [`encode`] prefixes an answer. TLS and
//! sockets live in the server; the EPP exchange on top of frames lives in
//! [`crate::session`].
//!
//! Memory is bounded: the decoder holds at most one partial frame, never more than
//! `max_frame` bytes, and a header announcing a larger frame (or one shorter than its own
//! header) is an error. After an error the stream cannot be resynchronised: the session
//! answers and closes.

use std::fmt;

/// Size of the length header.
pub const HEADER_LEN: usize = 4;

/// Default cap on the total length of one frame (header included): 1 MiB, far above any
/// legitimate EPP command.
pub const DEFAULT_MAX_FRAME: usize = 1024 * 1024;

/// Why the byte stream cannot be read as frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The header announced fewer bytes than the header itself (RFC 5734: the length
    /// includes the four header bytes).
    TooShort {
        /// The announced total length.
        len: u32,
    },
    /// The header announced a frame above the configured cap.
    TooLarge {
        /// The announced total length.
        len: u32,
        /// The cap.
        max: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooShort { len } => write!(
                f,
                "frame length {len} is shorter than the 4-byte length header it includes"
            ),
            FrameError::TooLarge { len, max } => write!(
                f,
                "frame length {len} exceeds this server's limit of {max} bytes"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Incremental decoder of length-prefixed frames.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame: usize,
    header: [u8; HEADER_LEN],
    header_len: usize,
    /// Payload bytes still expected for the current frame, once its header is complete.
    body: Option<(Vec<u8>, usize)>,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `max_frame` bytes (header included). A cap
    /// below the header size is raised to it.
    pub fn new(max_frame: usize) -> FrameDecoder {
        FrameDecoder {
            max_frame: max_frame.max(HEADER_LEN),
            header: [0; HEADER_LEN],
            header_len: 0,
            body: None,
            failed: None,
        }
    }

    /// The cap this decoder enforces.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Is the decoder between frames (nothing partial buffered)?
    pub fn is_idle(&self) -> bool {
        self.header_len == 0 && self.body.is_none()
    }

    /// Consumes `data` and returns the payloads (XML, without header) of the frames it
    /// completed, in order. Once an error is returned, every later call returns it again.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut frames = Vec::new();
        while !data.is_empty() {
            match &mut self.body {
                None => {
                    let take = (HEADER_LEN - self.header_len).min(data.len());
                    self.header[self.header_len..self.header_len + take]
                        .copy_from_slice(&data[..take]);
                    self.header_len += take;
                    data = &data[take..];
                    if self.header_len == HEADER_LEN {
                        self.header_len = 0;
                        let len = u32::from_be_bytes(self.header);
                        let total = usize::try_from(len).unwrap_or(usize::MAX);
                        if total < HEADER_LEN {
                            return Err(self.fail(FrameError::TooShort { len }));
                        }
                        if total > self.max_frame {
                            return Err(self.fail(FrameError::TooLarge {
                                len,
                                max: self.max_frame,
                            }));
                        }
                        let want = total - HEADER_LEN;
                        if want == 0 {
                            frames.push(Vec::new());
                        } else {
                            // Capacity grows with what arrives, not with what was announced.
                            self.body = Some((Vec::with_capacity(want.min(64 * 1024)), want));
                        }
                    }
                }
                Some((buf, want)) => {
                    let take = (*want - buf.len()).min(data.len());
                    buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if buf.len() == *want
                        && let Some((buf, _)) = self.body.take()
                    {
                        frames.push(buf);
                    }
                }
            }
        }
        Ok(frames)
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.failed = Some(e);
        self.body = None;
        e
    }
}

/// Appends `payload` as one frame to `out`.
///
/// A payload of 4 GiB or more cannot be framed; answers are far smaller, and such a
/// payload is cut to the largest frame the header can announce rather than panicking.
pub fn encode_into(payload: &[u8], out: &mut Vec<u8>) {
    let max = u32::MAX as usize - HEADER_LEN;
    let payload = &payload[..payload.len().min(max)];
    let len = u32::try_from(payload.len() + HEADER_LEN).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
}

/// `payload` as one frame.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + HEADER_LEN);
    encode_into(payload, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_whole_and_byte_by_byte() {
        let mut stream = encode(b"<epp/>");
        stream.extend(encode(b""));
        stream.extend(encode(b"second"));
        let mut d = FrameDecoder::new(64);
        assert_eq!(
            d.feed(&stream).unwrap(),
            vec![b"<epp/>".to_vec(), Vec::new(), b"second".to_vec()]
        );
        assert!(d.is_idle());
        let mut d = FrameDecoder::new(64);
        let mut got = Vec::new();
        for b in &stream {
            got.extend(d.feed(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], b"second");
    }

    #[test]
    fn header_includes_itself() {
        assert_eq!(encode(b"ab"), vec![0, 0, 0, 6, b'a', b'b']);
    }

    #[test]
    fn too_short_and_too_large_are_errors_that_stick() {
        let mut d = FrameDecoder::new(64);
        assert_eq!(d.feed(&[0, 0, 0, 3]), Err(FrameError::TooShort { len: 3 }));
        assert!(d.feed(&encode(b"x")).is_err());
        let mut d = FrameDecoder::new(64);
        let e = d.feed(&[0, 0, 0, 65]).unwrap_err();
        assert_eq!(e, FrameError::TooLarge { len: 65, max: 64 });
        assert!(e.to_string().contains("limit of 64"));
        let mut d = FrameDecoder::new(64);
        assert!(d.feed(&[0xff, 0xff, 0xff, 0xff]).is_err());
        // Exactly at the cap is fine.
        let mut d = FrameDecoder::new(10);
        assert_eq!(d.feed(&encode(b"123456")).unwrap().len(), 1);
    }

    #[test]
    fn partial_frame_is_buffered() {
        let f = encode(b"hello world");
        let mut d = FrameDecoder::new(64);
        assert!(d.feed(&f[..2]).unwrap().is_empty());
        assert!(d.feed(&f[2..7]).unwrap().is_empty());
        assert!(!d.is_idle());
        assert_eq!(d.feed(&f[7..]).unwrap(), vec![b"hello world".to_vec()]);
    }
}
