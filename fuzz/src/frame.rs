//! `wharf::frame`: length-prefixed postcard frames read off a stream that a hostile peer
//! writes.
//!
//! Invariants: every decoded value encodes again to at most as many bytes and decodes to the
//! same value; a frame over the limit is refused; reading never makes an allocation larger than
//! the limit allows for (the frame, its header and one read's slack), whatever length a header
//! announces.

use serde::{Deserialize, Serialize};
use wharf::frame::{FrameError, Framed, HEADER_LEN, decode_payload, encode_frame};

/// The limits tried, chosen by the first byte of the input.
const LIMITS: [usize; 4] = [16, 300, 4096, 70_000];

/// The slack one read may add past a frame: the framing reads at least this much at a time.
pub const READ_SLACK: usize = 8 * 1024;

/// A message of the kinds a protocol carries, whose decoded size is bounded by its encoding.
/// Not recursive: postcard has no depth limit, so a recursive type would let a frame of a few
/// kilobytes nest deep enough to overflow the stack (protocols on `wharf::frame` avoid them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Nothing.
    Empty,
    /// A number of each width postcard encodes differently.
    Numbers(u8, u16, u32, u64, i64, bool),
    /// Text.
    Text(String),
    /// Bytes as a sequence.
    Bytes(Vec<u8>),
    /// Nested optional parts.
    Nested {
        /// A name.
        name: Option<String>,
        /// A body.
        body: Option<(u32, String)>,
    },
}

/// The first byte picks the limit; the rest is the stream.
pub fn run(data: &[u8]) {
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let limit = LIMITS[usize::from(pick) % LIMITS.len()];
    let (messages, largest) = read_all::<Message>(stream, limit);
    check_bound(largest, limit);
    for (message, payload_len) in messages {
        check_round_trip(&message, payload_len, limit);
    }
}

/// Reads frames of `T` from `stream` until its end or the first error; returns each value with
/// its payload length, and the largest allocation the reading made.
pub fn read_all<T: serde::de::DeserializeOwned>(
    stream: &[u8],
    limit: usize,
) -> (Vec<(T, usize)>, usize) {
    // Allocated before the probe is armed: only the framing's own allocations count.
    let mut messages = Vec::with_capacity(stream.len() / HEADER_LEN + 1);
    crate::block_on(async {});
    let ((), largest) = crate::alloc_probe::largest_allocation(|| {
        crate::block_on(async {
            let mut framed = Framed::new(stream).with_max_frame_size(limit);
            loop {
                let start = consumed(&framed, stream);
                match framed.read_frame::<T>().await {
                    Ok(Some(value)) => {
                        let payload_len = consumed(&framed, stream) - start - HEADER_LEN;
                        messages.push((value, payload_len));
                    }
                    Ok(None) => break,
                    Err(FrameError::TooLarge { size, max }) => {
                        assert_eq!(max, limit);
                        assert!(size > limit as u64, "{size} refused under a limit of {max}");
                        break;
                    }
                    Err(_) => break,
                }
            }
        })
    });
    (messages, largest)
}

/// How many bytes of `stream` the framing has returned as frames.
fn consumed(framed: &Framed<&[u8]>, stream: &[u8]) -> usize {
    // The framing reads the slice from the front: the rest is unread or still buffered.
    stream.len() - framed.get_ref().len() - framed.read_buffer().len()
}

/// No allocation while reading exceeded what one frame at the limit needs.
pub fn check_bound(largest: usize, limit: usize) {
    let bound = HEADER_LEN + limit + READ_SLACK;
    assert!(
        largest <= bound,
        "reading frames under a limit of {limit} bytes allocated {largest} bytes at once (bound {bound})"
    );
}

/// The value encodes again within the limit, no longer than it came, and decodes the same.
pub fn check_round_trip<T>(value: &T, payload_len: usize, limit: usize)
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert!(
        payload_len <= limit,
        "a payload of {payload_len} bytes under {limit}"
    );
    let frame = encode_frame(value, limit).expect("a value that was read encodes within the limit");
    assert!(
        frame.len() - HEADER_LEN <= payload_len,
        "{value:?} came in {payload_len} bytes and encodes to {}",
        frame.len() - HEADER_LEN
    );
    let again: T = decode_payload(&frame[HEADER_LEN..]).expect("an encoded value decodes");
    assert_eq!(&again, value);
}
