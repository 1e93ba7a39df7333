//! `wharf::frame` over real TCP sockets and in-memory pipes: boundaries, limits, hostile bytes.

use std::time::Duration;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use wharf::frame::{FrameError, Framed, HEADER_LEN, encode_frame};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Message {
    Hello { name: String, version: u32 },
    Data(Vec<u8>),
    Done,
}

/// A connected pair of TCP streams on 127.0.0.1.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

/// Reads one frame from `bytes` followed by the end of the stream.
async fn read_one(bytes: &[u8], max: usize) -> Result<Option<Message>, FrameError> {
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    writer.write_all(bytes).await.unwrap();
    drop(writer);
    Framed::new(reader)
        .with_max_frame_size(max)
        .read_frame()
        .await
}

#[tokio::test]
async fn messages_cross_a_tcp_socket_with_their_boundaries_and_end_cleanly() {
    let (client, server) = tcp_pair().await;
    let sent = vec![
        Message::Hello {
            name: "wharf".into(),
            version: 1,
        },
        Message::Data(vec![7; 200_000]),
        Message::Data(Vec::new()),
        Message::Done,
    ];
    let writer = tokio::spawn({
        let sent = sent.clone();
        async move {
            let mut framed = Framed::new(client);
            for message in &sent {
                framed.write_frame(message).await.unwrap();
            }
            framed.shutdown().await.unwrap();
        }
    });
    let mut framed = Framed::new(server);
    let mut received = Vec::new();
    while let Some(message) = framed.read_frame::<Message>().await.unwrap() {
        received.push(message);
    }
    writer.await.unwrap();
    assert_eq!(received, sent);
    // The end of the stream stays a clean `None`.
    assert!(framed.read_frame::<Message>().await.unwrap().is_none());
}

#[tokio::test]
async fn frames_split_into_single_bytes_or_packed_together_decode_the_same() {
    let mut bytes = Vec::new();
    for index in 0..5u8 {
        bytes.extend(encode_frame(&Message::Data(vec![index; 3]), 1024).unwrap());
    }
    let (client, server) = tcp_pair().await;
    let writer = tokio::spawn(async move {
        let mut client = client;
        client.set_nodelay(true).unwrap();
        // First three frames one byte at a time, the rest in a single write.
        let split = bytes.len() * 3 / 5;
        for byte in &bytes[..split] {
            client.write_all(std::slice::from_ref(byte)).await.unwrap();
            client.flush().await.unwrap();
        }
        client.write_all(&bytes[split..]).await.unwrap();
    });
    let mut framed = Framed::new(server);
    for index in 0..5u8 {
        let message = framed.read_frame::<Message>().await.unwrap();
        assert_eq!(message, Some(Message::Data(vec![index; 3])));
    }
    writer.await.unwrap();
    assert!(framed.read_frame::<Message>().await.unwrap().is_none());
}

#[tokio::test]
async fn an_end_of_stream_inside_any_frame_is_truncation_not_a_clean_end() {
    let frame = encode_frame(&Message::Data(vec![1, 2, 3, 4]), 1024).unwrap();
    assert!(read_one(&[], 1024).await.unwrap().is_none());
    for cut in 1..frame.len() {
        match read_one(&frame[..cut], 1024).await {
            Err(FrameError::Truncated { expected, received }) => {
                assert_eq!(received, cut);
                let whole = if cut < HEADER_LEN {
                    HEADER_LEN
                } else {
                    frame.len()
                };
                assert_eq!(expected, whole, "cut at {cut}");
            }
            other => panic!("cut at {cut}: expected truncation, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_oversized_length_is_refused_before_its_payload_arrives() {
    // The writer stays open and sends no payload: the reader must not wait for 4 GiB.
    let (mut writer, reader) = tokio::io::duplex(1024);
    writer.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let mut framed = Framed::new(reader).with_max_frame_size(1024);
    let outcome = tokio::time::timeout(Duration::from_secs(10), framed.read_frame::<Message>())
        .await
        .expect("an oversized header is refused at once");
    match outcome {
        Err(error @ FrameError::TooLarge { size, max }) => {
            assert_eq!((size, max), (u64::from(u32::MAX), 1024));
            assert!(error.is_protocol_violation());
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn writing_over_the_limit_sends_nothing() {
    let (client, mut server) = tcp_pair().await;
    let mut framed = Framed::new(client).with_max_frame_size(16);
    let error = framed
        .write_frame(&Message::Data(vec![0; 64]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, FrameError::TooLarge { max: 16, .. }),
        "{error}"
    );
    framed.write_frame(&Message::Done).await.unwrap();
    drop(framed);
    let mut received = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut server, &mut received)
        .await
        .unwrap();
    assert_eq!(received, encode_frame(&Message::Done, 16).unwrap());
}

#[tokio::test]
async fn a_payload_of_the_wrong_shape_is_malformed() {
    // Variant index 9 does not exist.
    let error = read_one(&[0, 0, 0, 1, 9], 1024).await.unwrap_err();
    assert!(matches!(error, FrameError::Malformed(_)), "{error}");
    // A string length pointing past the payload.
    let error = read_one(&[0, 0, 0, 3, 0, 200, 1], 1024).await.unwrap_err();
    assert!(matches!(error, FrameError::Malformed(_)), "{error}");
    // `Done` followed by garbage inside the same frame.
    let error = read_one(&[0, 0, 0, 3, 2, 0xff, 0xff], 1024)
        .await
        .unwrap_err();
    assert!(matches!(error, FrameError::TrailingBytes(2)), "{error}");
}

#[tokio::test]
async fn a_cancelled_read_loses_no_bytes() {
    let frame = encode_frame(&Message::Data(vec![5; 1000]), 4096).unwrap();
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    let mut framed = Framed::new(reader);
    writer.write_all(&frame[..600]).await.unwrap();
    let first =
        tokio::time::timeout(Duration::from_millis(100), framed.read_frame::<Message>()).await;
    assert!(first.is_err(), "half a frame cannot be returned");
    assert_eq!(framed.read_buffer().len(), 600);
    writer.write_all(&frame[600..]).await.unwrap();
    let message = framed.read_frame::<Message>().await.unwrap();
    assert_eq!(message, Some(Message::Data(vec![5; 1000])));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_give_frames_or_errors_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (mut writer, reader) = tokio::io::duplex(1024);
            writer.write_all(&bytes).await.unwrap();
            drop(writer);
            let mut framed = Framed::new(reader).with_max_frame_size(256);
            // Each call consumes at least one frame or ends the loop, so this terminates.
            for _ in 0..=bytes.len() {
                match framed.read_frame::<Message>().await {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        });
    }

    #[test]
    fn any_message_round_trips(name in ".{0,40}", version in any::<u32>(), data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let sent = vec![Message::Hello { name, version }, Message::Data(data), Message::Done];
        let received = runtime.block_on(async {
            let (writer, reader) = tokio::io::duplex(128);
            let writing = async {
                let mut framed = Framed::new(writer);
                for message in &sent {
                    framed.write_frame(message).await.unwrap();
                }
            };
            let reading = async {
                let mut framed = Framed::new(reader);
                let mut received = Vec::new();
                for _ in 0..sent.len() {
                    received.push(framed.read_frame::<Message>().await.unwrap().unwrap());
                }
                received
            };
            tokio::join!(writing, reading).1
        });
        prop_assert_eq!(received, sent);
    }
}
