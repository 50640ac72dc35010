//! gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) on the
//! blocking server, from the descriptors of the services it serves: what
//! `grpcurl list` / `describe` and other tools ask.
//!
//! ```no_run
//! use grpc_sansio_blocking::reflection::Reflection;
//! use grpc_sansio_blocking::{Handler, Router};
//!
//! # fn run(descriptor_set: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! // `descriptor_set`: a serialized FileDescriptorSet, e.g. from
//! // `protoc --include_imports --descriptor_set_out=set.bin ...`.
//! let mut router: Router<Handler> = Router::new();
//! Reflection::from_file_descriptor_set(descriptor_set)?.add_to(&mut router);
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
//!
//! A reflection call holds a handler thread while it lasts; at most
//! [`MAX_CALLS`] run at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grpc_sansio::codec::BytesCodec;
use grpc_sansio::reflection::{METHOD, ReflectionStream, SERVICE_V1, SERVICE_V1ALPHA};

use crate::io::CountOut;
use crate::{Handler, Router, RouterExt, Status};

pub use grpc_sansio::reflection::{DescriptorError, DescriptorPool};

/// The most reflection calls served at once; each holds a handler
/// thread, and past this one is refused RESOURCE_EXHAUSTED.
pub const MAX_CALLS: usize = 8;

/// The reflection service over a [`DescriptorPool`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Reflection {
    pool: Arc<DescriptorPool>,
    include_reflection_service: bool,
    calls: Arc<AtomicUsize>,
}

impl Reflection {
    /// Serve reflection from `pool`, with the reflection service's own
    /// descriptors added (see [`Reflection::include_reflection_service`]).
    pub fn new(pool: DescriptorPool) -> Reflection {
        Reflection {
            pool: Arc::new(pool),
            include_reflection_service: true,
            calls: Arc::new(AtomicUsize::new(0)),
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
    /// `grpc.reflection.v1alpha` on `router`.
    pub fn add_to(&self, router: &mut Router<Handler>) {
        let served = self.served();
        for service in [SERVICE_V1, SERVICE_V1ALPHA] {
            let pool = Arc::clone(&served);
            let calls = Arc::clone(&self.calls);
            router.bidi_streaming(service, METHOD, BytesCodec, move |_call, requests, out| {
                if calls.fetch_add(1, Ordering::AcqRel) >= MAX_CALLS {
                    calls.fetch_sub(1, Ordering::AcqRel);
                    return Err(Status::resource_exhausted(
                        "too many reflection calls in progress",
                    ));
                }
                let _in_call = CountOut(&calls);
                let mut stream = ReflectionStream::new();
                for request in requests {
                    out.send(&stream.answer(&pool, &request?)?)?;
                }
                Ok(())
            });
        }
    }
}
