//! An in-memory channel to a server, for tests: every connection the
//! channel makes is a `tokio::io::duplex` pipe whose other end the server
//! serves. Nothing touches the network.

use std::io;

use crate::Channel;
use crate::client::{ChannelBuilder, ConnectFuture, Connector};
use crate::server::Server;
use crate::transport::BoxIo;

/// Bytes each direction of an in-memory pipe buffers.
const PIPE_BUFFER: usize = 256 << 10;

struct MemoryConnector {
    server: Server,
}

impl Connector for MemoryConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(PIPE_BUFFER);
            self.server.serve_connection(server, None);
            Ok::<BoxIo, io::Error>(Box::new(client))
        })
    }
}

impl Server {
    /// A builder for a channel whose connections go to this server in
    /// memory (like grpclib's `ChannelFor`). Build it with
    /// [`ChannelBuilder::build`].
    pub fn in_memory_channel_builder(&self) -> ChannelBuilder {
        Channel::with_connector(MemoryConnector {
            server: self.clone(),
        })
    }

    /// A channel whose connections go to this server in memory.
    pub fn in_memory_channel(&self) -> Channel {
        self.in_memory_channel_builder()
            .build()
            .unwrap_or_else(|_| unreachable!("a connector needs no target"))
    }
}
