//! Listening sockets: named listener specifications, binding them (or taking them from the
//! service manager), and accepting on them.
//!
//! - `bind`: binding with the server's socket options; the std listener and accepted stream.
//! - `activation`: sockets passed by the service manager (`LISTEN_FDS`).

mod activation;
mod bind;

use std::sync::Arc;

use crate::address::ListenAddr;
use crate::error::ServerError;
use crate::proxy::ProxyProtocol;
use crate::shared::ListenerInfo;

pub(crate) use bind::{BindOptions, StdListener, StdStream, bind_datagram};

/// One listener the server should have: a name, an address, and per-listener options.
#[derive(Debug, Clone)]
pub(crate) struct ListenerSpec {
    /// The name connections report (`listen_as`); unique within a server.
    pub(crate) name: String,
    /// Where to bind, unless the service manager passes a socket of this name.
    pub(crate) addr: ListenAddr,
    /// PROXY protocol on this listener, if set.
    pub(crate) proxy: Option<Arc<ProxyProtocol>>,
}

/// A listener ready to accept.
#[derive(Debug)]
pub(crate) struct BoundListener {
    /// The socket.
    pub(crate) socket: StdListener,
    /// Name and resolved address, shared with every connection it accepts.
    pub(crate) info: Arc<ListenerInfo>,
    /// PROXY protocol on this listener, if set.
    pub(crate) proxy: Option<Arc<ProxyProtocol>>,
}

/// Binds every listener, or takes it from the service manager where `activation` is on and
/// the manager passed a socket for it. Listener names must be unique.
pub(crate) fn bind_all(
    specs: &[ListenerSpec],
    options: BindOptions,
    activation: bool,
) -> Result<Vec<BoundListener>, ServerError> {
    for (index, spec) in specs.iter().enumerate() {
        if specs[..index].iter().any(|other| other.name == spec.name) {
            return Err(ServerError::Unsupported(format!(
                "two listeners are named {:?}: names must be unique",
                spec.name
            )));
        }
    }
    let mut inherited = if activation {
        activation::take_inherited().map_err(ServerError::Activation)?
    } else {
        Vec::new()
    };
    // Which spec each inherited socket stands for: by name, or the only spec for the only socket.
    let mut assigned: Vec<Option<activation::Inherited>> = specs.iter().map(|_| None).collect();
    let only_one = specs.len() == 1 && inherited.len() == 1;
    for socket in inherited.drain(..) {
        let index = match &socket.name {
            Some(name) => specs.iter().position(|spec| &spec.name == name),
            None => None,
        }
        .or(only_one.then_some(0));
        let Some(index) = index else {
            let names: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
            return Err(ServerError::Activation(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the service manager passed a socket named {:?} but the listeners are named {}",
                    socket.name.as_deref().unwrap_or("(unnamed)"),
                    names.join(", ")
                ),
            )));
        };
        if assigned[index].is_some() {
            return Err(ServerError::Activation(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the service manager passed two sockets for {:?}",
                    specs[index].name
                ),
            )));
        }
        assigned[index] = Some(socket);
    }
    let mut bound = Vec::with_capacity(specs.len());
    for (spec, inherited) in specs.iter().zip(assigned) {
        let (socket, addr, activated) = match inherited {
            Some(inherited) => {
                tracing::info!(listener = %spec.name, addr = %inherited.addr,
                    "using a socket passed by the service manager");
                (inherited.listener, inherited.addr, true)
            }
            None => {
                let (socket, addr) = bind::bind_stream(&spec.addr, options)
                    .map_err(|e| ServerError::bind(&spec.addr, e))?;
                (socket, addr, false)
            }
        };
        bound.push(BoundListener {
            socket,
            info: Arc::new(ListenerInfo {
                name: spec.name.clone(),
                addr,
                activated,
            }),
            proxy: spec.proxy.clone(),
        });
    }
    Ok(bound)
}

/// Whether an accept error is about one connection only (retry at once) rather than the
/// process (back off: out of descriptors or memory).
pub(crate) fn accept_error_is_transient(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::WouldBlock
    )
}
