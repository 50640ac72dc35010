//! gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) on the
//! tokio server, from the descriptors of the services it serves: what
//! `grpcurl list` / `describe` and other tools ask.
//!
//! ```no_run
//! use grpc_sansio_tokio::reflection::Reflection;
//! use grpc_sansio_tokio::Routes;
//!
//! # fn run(descriptor_set: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! // `descriptor_set`: a serialized FileDescriptorSet, e.g. from
//! // `protoc --include_imports --descriptor_set_out=set.bin ...`.
//! let mut routes = Routes::new();
//! Reflection::from_file_descriptor_set(descriptor_set)?.add_to(&mut routes);
//! # Ok(())
//! # }
//! ```
//!
//! `list_services` answers the services the descriptors define; add the
//! descriptors of every service to be listed. The reflection service
//! describes itself too: unless the pool already has them, the
//! descriptors of `grpc.reflection.v1` and `v1alpha` are added to what it
//! serves ([`DescriptorPool::add_reflection_service`]), so `grpcurl list`
//! shows them and `grpcurl describe grpc.reflection.v1.ServerReflection`
//! works, as with tonic-reflection and grpc-go.
//! [`Reflection::include_reflection_service`]`(false)` leaves them out.

use std::sync::Arc;

use grpc_sansio::codec::BytesCodec;
use grpc_sansio::reflection::{METHOD, ReflectionStream, SERVICE_V1, SERVICE_V1ALPHA};

use crate::Routes;

pub use grpc_sansio::reflection::{DescriptorError, DescriptorPool};

/// The reflection service over a [`DescriptorPool`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Reflection {
    pool: Arc<DescriptorPool>,
    include_reflection_service: bool,
}

impl Reflection {
    /// Serve reflection from `pool`, with the reflection service's own
    /// descriptors added (see [`Reflection::include_reflection_service`]).
    pub fn new(pool: DescriptorPool) -> Reflection {
        Reflection {
            pool: Arc::new(pool),
            include_reflection_service: true,
        }
    }

    /// Serve reflection from a serialized `FileDescriptorSet`.
    pub fn from_file_descriptor_set(set: &[u8]) -> Result<Reflection, DescriptorError> {
        DescriptorPool::from_file_descriptor_set(set).map(Reflection::new)
    }

    /// Whether to serve the descriptors of the reflection service itself
    /// (`grpc.reflection.v1` and `v1alpha`) besides the pool's, so that
    /// it is listed and described. On by default; each is added only
    /// when the pool has no file of its name and does not define its
    /// service. `false` serves the pool as given.
    pub fn include_reflection_service(mut self, include: bool) -> Reflection {
        self.include_reflection_service = include;
        self
    }

    /// The pool the service answers from.
    fn served(&self) -> Arc<DescriptorPool> {
        DescriptorPool::served(&self.pool, self.include_reflection_service)
    }

    /// Serve `ServerReflectionInfo` of both `grpc.reflection.v1` and
    /// `grpc.reflection.v1alpha` on `routes`.
    pub fn add_to(&self, routes: &mut Routes) {
        let served = self.served();
        for service in [SERVICE_V1, SERVICE_V1ALPHA] {
            let pool = Arc::clone(&served);
            routes.streaming(service, METHOD, BytesCodec, move |req, mut sink| {
                let pool = Arc::clone(&pool);
                async move {
                    let (_ctx, mut requests) = req.into_parts();
                    let mut stream = ReflectionStream::new();
                    while let Some(request) = requests.message().await? {
                        let response = stream.answer(&pool, &request)?;
                        sink.send(response).await?;
                    }
                    Ok(())
                }
            });
        }
    }
}
