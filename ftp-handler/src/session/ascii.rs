//! TYPE A conversion between the file's LF line ends and the wire's CRLF (RFC 959 3.1.1.1).

/// Turns LF into CRLF for sending, leaving CRLF pairs alone across chunk boundaries.
#[derive(Debug, Default)]
pub(crate) struct AsciiEncoder {
    /// Whether the last byte of the previous chunk was CR.
    last_was_cr: bool,
}

impl AsciiEncoder {
    /// Converts one chunk.
    pub(crate) fn encode(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + chunk.len() / 16);
        for &byte in chunk {
            if byte == b'\n' && !self.last_was_cr {
                out.push(b'\r');
            }
            out.push(byte);
            self.last_was_cr = byte == b'\r';
        }
        out
    }
}

/// Turns CRLF into LF for storing; a CR not followed by LF is kept.
#[derive(Debug, Default)]
pub(crate) struct AsciiDecoder {
    /// A CR ended the previous chunk and is held until the next byte is known.
    pending_cr: bool,
}

impl AsciiDecoder {
    /// Converts one chunk.
    pub(crate) fn decode(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len());
        for &byte in chunk {
            if self.pending_cr {
                self.pending_cr = false;
                if byte != b'\n' {
                    out.push(b'\r');
                }
            }
            if byte == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(byte);
            }
        }
        out
    }

    /// The bytes still held at the end of the stream (a final lone CR).
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        if std::mem::take(&mut self.pending_cr) {
            vec![b'\r']
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_adds_cr_before_bare_lf_only() {
        let mut encoder = AsciiEncoder::default();
        assert_eq!(encoder.encode(b"a\nb\r\nc"), b"a\r\nb\r\nc");
        // A CRLF split across two chunks is not doubled.
        let mut encoder = AsciiEncoder::default();
        let mut out = encoder.encode(b"x\r");
        out.extend(encoder.encode(b"\ny\n"));
        assert_eq!(out, b"x\r\ny\r\n");
    }

    #[test]
    fn decoder_strips_cr_of_crlf_across_chunks() {
        let mut decoder = AsciiDecoder::default();
        let mut out = decoder.decode(b"a\r\nb\r");
        out.extend(decoder.decode(b"\nc\rd\r"));
        out.extend(decoder.finish());
        assert_eq!(out, b"a\nb\nc\rd\r");
    }

    #[test]
    fn round_trip_of_unix_text_is_identity() {
        let text = b"line one\nline two\n\nend";
        let wire = AsciiEncoder::default().encode(text);
        let mut decoder = AsciiDecoder::default();
        let mut back = decoder.decode(&wire);
        back.extend(decoder.finish());
        assert_eq!(back, text);
    }
}
