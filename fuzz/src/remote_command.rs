//! The remote-command service's native protocol: its messages in `wharf::frame` frames at the
//! protocol's limit, from either side (a server reads a hello and requests, a client reads a
//! hello and responses).
//!
//! Invariants: those of [`crate::frame`] for these message types (every decoded message encodes
//! again no longer and decodes the same; no allocation past a frame at the limit).

use serde::Serialize;
use serde::de::DeserializeOwned;
use wharf_ssh::protocol::{ClientHello, MAX_FRAME_SIZE, Request, Response, ServerHello};

use crate::frame::{check_bound, check_round_trip, read_all};

/// The first byte picks the side; the rest is what the other side sent.
pub fn run(data: &[u8]) {
    let Some((&side, stream)) = data.split_first() else {
        return;
    };
    if side % 2 == 0 {
        read_session::<ClientHello, Request>(stream);
    } else {
        read_session::<ServerHello, Response>(stream);
    }
}

/// A hello then messages, as one side of a connection reads them.
fn read_session<Hello, Message>(stream: &[u8])
where
    Hello: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    Message: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    // The hello is one frame; whatever follows it is read as messages.
    let (hellos, largest) = read_all::<Hello>(stream, MAX_FRAME_SIZE);
    check_bound(largest, MAX_FRAME_SIZE);
    let Some((hello, payload_len)) = hellos.into_iter().next() else {
        return;
    };
    check_round_trip(&hello, payload_len, MAX_FRAME_SIZE);
    let rest = &stream[wharf::frame::HEADER_LEN + payload_len..];
    let (messages, largest) = read_all::<Message>(rest, MAX_FRAME_SIZE);
    check_bound(largest, MAX_FRAME_SIZE);
    for (message, payload_len) in messages {
        check_round_trip(&message, payload_len, MAX_FRAME_SIZE);
    }
}
