//! gRPC server reflection (`grpc.reflection.v1.ServerReflection` and its
//! older twin `grpc.reflection.v1alpha`, gRPC's
//! `doc/server-reflection.md`), without I/O: what `grpcurl`, Postman and
//! `grpc_cli` ask a server to learn its services and message types.
//!
//! The server's schema comes in as serialized protobuf descriptors: a
//! `FileDescriptorSet` (`protoc --include_imports --descriptor_set_out`,
//! or prost-build's `file_descriptor_set_path`) or single
//! `FileDescriptorProto`s. [`DescriptorPool`] indexes them by file name,
//! by the fully qualified names they define (messages, nested messages,
//! enums, fields, services, methods, extensions) and by extension number.
//! [`ReflectionStream::answer`] turns one `ServerReflectionRequest` into its
//! `ServerReflectionResponse`; an adapter calls it for each message of the
//! bidirectional `ServerReflectionInfo` call. Descriptors are walked by
//! hand (no generated code): malformed ones are refused when added, never
//! a panic.
//!
//! The reflection service describes itself too, as tonic-reflection and
//! grpc-go do: [`file_descriptor_v1`] and [`file_descriptor_v1alpha`] are
//! the `FileDescriptorProto`s of gRPC's published `reflection.proto` files,
//! and [`DescriptorPool::add_reflection_service`] adds them to a pool, so
//! that `grpcurl list` shows the reflection services and `grpcurl
//! describe grpc.reflection.v1.ServerReflection` finds them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::grpc::{Code, Status};
use crate::protowire::{Value, put_bytes, put_uint, walk};

/// The v1 service's full name.
pub const SERVICE_V1: &str = "grpc.reflection.v1.ServerReflection";
/// The v1alpha service's full name (same messages).
pub const SERVICE_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";
/// The method of both.
pub const METHOD: &str = "ServerReflectionInfo";
/// The name of the file that defines the v1 service, as gRPC publishes it.
pub const FILE_V1: &str = "grpc/reflection/v1/reflection.proto";
/// The name of the file that defines the v1alpha service.
pub const FILE_V1ALPHA: &str = "grpc/reflection/v1alpha/reflection.proto";

/// A descriptor could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorError(String);

impl std::fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad file descriptor: {}", self.0)
    }
}

impl std::error::Error for DescriptorError {}

#[derive(Debug, Clone)]
struct File {
    name: String,
    bytes: Bytes,
    deps: Vec<String>,
}

/// The descriptors a server reports, indexed for reflection.
#[derive(Debug, Clone, Default)]
pub struct DescriptorPool {
    files: Vec<File>,
    by_name: HashMap<String, usize>,
    symbols: HashMap<String, usize>,
    /// The message types among the symbols.
    messages: HashSet<String>,
    services: Vec<String>,
    /// Extended message -> (field number, file).
    extensions: HashMap<String, Vec<(i32, usize)>>,
}

impl DescriptorPool {
    /// An empty pool.
    pub fn new() -> DescriptorPool {
        DescriptorPool::default()
    }

    /// A pool of every file of a serialized `FileDescriptorSet`.
    pub fn from_file_descriptor_set(set: &[u8]) -> Result<DescriptorPool, DescriptorError> {
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_set(set)?;
        Ok(pool)
    }

    /// Add every file of a serialized `FileDescriptorSet`.
    pub fn add_file_descriptor_set(&mut self, set: &[u8]) -> Result<(), DescriptorError> {
        let mut files = Vec::new();
        walk(set, bad, |field, value| {
            if let (1, Value::Bytes(f)) = (field, value) {
                files.push(Bytes::copy_from_slice(f));
            }
            Ok(())
        })
        .map_err(|e| DescriptorError(e.message().to_string()))?;
        // All or nothing: a bad file leaves the pool as it was.
        let mut next = self.clone();
        for f in files {
            next.add_file(f)?;
        }
        *self = next;
        Ok(())
    }

    /// Add one serialized `FileDescriptorProto`. A file of a name already
    /// in the pool is ignored (sets often repeat their common imports).
    pub fn add_file(&mut self, file: Bytes) -> Result<(), DescriptorError> {
        let err = |s: Status| DescriptorError(s.message().to_string());
        let mut name = None;
        let mut package = String::new();
        let mut deps = Vec::new();
        let mut found = Found::default();
        let mut services = Vec::new();
        let mut messages = Vec::new();
        let mut enums = Vec::new();
        let mut service_bodies = Vec::new();
        let mut extension_bodies = Vec::new();
        walk(&file, bad, |field, value| {
            match (field, value) {
                (1, Value::Bytes(v)) => name = Some(utf8(v)?),
                (2, Value::Bytes(v)) => package = utf8(v)?,
                (3, Value::Bytes(v)) => deps.push(utf8(v)?),
                (4, Value::Bytes(v)) => messages.push(v),
                (5, Value::Bytes(v)) => enums.push(v),
                (6, Value::Bytes(v)) => service_bodies.push(v),
                (7, Value::Bytes(v)) => extension_bodies.push(v),
                _ => {}
            }
            Ok(())
        })
        .map_err(err)?;
        let name = name.ok_or_else(|| DescriptorError("a file without a name".into()))?;
        if self.by_name.contains_key(&name) {
            return Ok(());
        }
        let scope = package.clone();
        for m in messages {
            message_symbols(m, &scope, &mut found, 0).map_err(err)?;
        }
        for e in enums {
            enum_symbols(e, &scope, &mut found).map_err(err)?;
        }
        for s in service_bodies {
            let (service, methods) = service_symbols(s).map_err(err)?;
            let full = qualify(&scope, &service);
            for m in methods {
                found.symbols.push(format!("{full}.{m}"));
            }
            found.symbols.push(full.clone());
            services.push(full);
        }
        for x in extension_bodies {
            found.extensions.push(extension(x, &scope).map_err(err)?);
        }
        let Found {
            symbols,
            messages,
            extensions,
        } = found;
        let index = self.files.len();
        self.files.push(File {
            name: name.clone(),
            bytes: file,
            deps,
        });
        self.by_name.insert(name, index);
        for s in symbols {
            self.symbols.entry(s).or_insert(index);
        }
        self.messages.extend(messages);
        for s in services {
            if !self.services.contains(&s) {
                self.services.push(s);
            }
        }
        for (extendee, symbol, number) in extensions {
            self.symbols.entry(symbol).or_insert(index);
            self.extensions
                .entry(extendee)
                .or_default()
                .push((number, index));
        }
        Ok(())
    }

    /// Add the descriptors of the reflection service itself
    /// ([`file_descriptor_v1`] and [`file_descriptor_v1alpha`]), each
    /// unless the pool already has a file of its name or defines its
    /// service: descriptors the user supplied win.
    pub fn add_reflection_service(&mut self) {
        for (file, service, bytes) in [
            (FILE_V1, SERVICE_V1, file_descriptor_v1()),
            (FILE_V1ALPHA, SERVICE_V1ALPHA, file_descriptor_v1alpha()),
        ] {
            if self.by_name.contains_key(file) || self.symbols.contains_key(service) {
                continue;
            }
            // Well formed by construction (the tests load both), so this
            // adds the file; an error would leave the pool as it was.
            let _ = self.add_file(bytes);
        }
    }

    /// `pool` as a reflection service serves it: with the reflection
    /// service's own descriptors added ([`add_reflection_service`]) when
    /// `include`, else as it is (shared, not copied).
    ///
    /// [`add_reflection_service`]: DescriptorPool::add_reflection_service
    pub fn served(pool: &Arc<DescriptorPool>, include: bool) -> Arc<DescriptorPool> {
        if !include {
            return Arc::clone(pool);
        }
        let mut served = DescriptorPool::clone(pool);
        served.add_reflection_service();
        Arc::new(served)
    }

    /// The services the descriptors define, in the order added.
    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// The file that defines `symbol` (fully qualified, no leading dot).
    pub fn file_containing_symbol(&self, symbol: &str) -> Option<&str> {
        self.symbols
            .get(symbol.strip_prefix('.').unwrap_or(symbol))
            .map(|&i| self.files[i].name.as_str())
    }
}

/// One `ServerReflectionInfo` call: answers its requests and remembers
/// which files it has sent, so that a file's imports go out once.
#[derive(Debug, Default)]
pub struct ReflectionStream {
    sent: HashSet<usize>,
}

impl ReflectionStream {
    /// A new call's state.
    pub fn new() -> ReflectionStream {
        ReflectionStream::default()
    }

    /// The serialized `ServerReflectionResponse` to the serialized
    /// `ServerReflectionRequest` `request`. Something the pool does not
    /// have is an `error_response` (NOT_FOUND) in the stream; a request
    /// that cannot be read, or asks nothing, ends the call with
    /// INVALID_ARGUMENT.
    pub fn answer(&mut self, pool: &DescriptorPool, request: &[u8]) -> Result<Bytes, Status> {
        let mut host = String::new();
        let mut ask = None;
        walk(request, bad, |field, value| {
            match (field, value) {
                (1, Value::Bytes(v)) => host = utf8(v)?,
                (3..=7, Value::Bytes(v)) => ask = Some((field, v)),
                _ => {}
            }
            Ok(())
        })?;
        let Some((kind, arg)) = ask else {
            return Err(bad("the request asks nothing"));
        };
        let mut out = BytesMut::new();
        put_bytes(&mut out, 1, host.as_bytes());
        put_bytes(&mut out, 2, request);
        match kind {
            3 => {
                let name = name_arg(arg)?;
                match pool.by_name.get(&name) {
                    Some(&i) => self.files(pool, i, &mut out),
                    None => not_found(&mut out, &format!("file {name:?} not found")),
                }
            }
            4 => {
                let symbol = name_arg(arg)?;
                match pool
                    .symbols
                    .get(symbol.strip_prefix('.').unwrap_or(&symbol))
                {
                    Some(&i) => self.files(pool, i, &mut out),
                    None => not_found(&mut out, &format!("symbol {symbol:?} not found")),
                }
            }
            5 => {
                let mut containing = String::new();
                let mut number = None;
                walk(arg, bad, |field, value| {
                    match (field, value) {
                        (1, Value::Bytes(v)) => containing = utf8(v)?,
                        (2, Value::Varint(n)) => number = Some(n as i32),
                        _ => {}
                    }
                    Ok(())
                })?;
                let found = number.and_then(|n| {
                    pool.extensions
                        .get(containing.strip_prefix('.').unwrap_or(&containing))
                        .and_then(|v| v.iter().find(|(x, _)| *x == n))
                        .map(|&(_, i)| i)
                });
                match found {
                    Some(i) => self.files(pool, i, &mut out),
                    None => not_found(&mut out, "extension not found"),
                }
            }
            6 => {
                let ty = name_arg(arg)?;
                let ty = ty.strip_prefix('.').unwrap_or(&ty).to_string();
                if pool.messages.contains(&ty) {
                    let mut body = BytesMut::new();
                    put_bytes(&mut body, 1, ty.as_bytes());
                    if let Some(v) = pool.extensions.get(&ty) {
                        let mut numbers: Vec<i32> = v.iter().map(|(n, _)| *n).collect();
                        numbers.sort_unstable();
                        numbers.dedup();
                        for n in numbers {
                            put_uint(&mut body, 2, n as i64 as u64);
                        }
                    }
                    put_bytes(&mut out, 5, &body);
                } else {
                    not_found(&mut out, &format!("type {ty:?} not found"));
                }
            }
            _ => {
                let mut body = BytesMut::new();
                for s in &pool.services {
                    let mut entry = BytesMut::new();
                    put_bytes(&mut entry, 1, s.as_bytes());
                    put_bytes(&mut body, 1, &entry);
                }
                put_bytes(&mut out, 6, &body);
            }
        }
        Ok(out.freeze())
    }

    /// A `file_descriptor_response`: file `i`, then its imports (and
    /// theirs) not yet sent on this call.
    fn files(&mut self, pool: &DescriptorPool, i: usize, out: &mut BytesMut) {
        let mut body = BytesMut::new();
        let mut queue = vec![i];
        let mut first = true;
        let mut seen = HashSet::new();
        while let Some(f) = queue.pop() {
            if !seen.insert(f) {
                continue;
            }
            if first || !self.sent.contains(&f) {
                put_bytes(&mut body, 1, &pool.files[f].bytes);
                self.sent.insert(f);
            }
            first = false;
            for d in pool.files[f].deps.iter().rev() {
                if let Some(&j) = pool.by_name.get(d) {
                    queue.push(j);
                }
            }
        }
        put_bytes(out, 4, &body);
    }
}

/// The serialized `FileDescriptorProto` of `grpc/reflection/v1/reflection.proto`
/// (package `grpc.reflection.v1`, proto3): the `ServerReflection` service
/// and its eight messages, with the field names, numbers, types, labels,
/// oneofs and JSON names of the published file, and its file options.
/// Comments (source code info) are not included.
pub fn file_descriptor_v1() -> Bytes {
    reflection_file(FILE_V1, "grpc.reflection.v1", "grpc_reflection_v1", false)
}

/// The serialized `FileDescriptorProto` of
/// `grpc/reflection/v1alpha/reflection.proto`: the same service and
/// messages as [`file_descriptor_v1`] in package `grpc.reflection.v1alpha`,
/// and a file marked deprecated.
pub fn file_descriptor_v1alpha() -> Bytes {
    reflection_file(
        FILE_V1ALPHA,
        "grpc.reflection.v1alpha",
        "grpc_reflection_v1alpha",
        true,
    )
}

// `FieldDescriptorProto.Label` and `.Type` values (descriptor.proto).
const LABEL_OPTIONAL: u64 = 1;
const LABEL_REPEATED: u64 = 3;
const TYPE_INT32: u64 = 5;
const TYPE_STRING: u64 = 9;
const TYPE_MESSAGE: u64 = 11;
const TYPE_BYTES: u64 = 12;

/// One field of a reflection message: name, number, label, type, the
/// message type's simple name (empty for scalars), the oneof's index.
type FieldDef = (&'static str, u64, u64, u64, &'static str, Option<u64>);

/// The messages of `reflection.proto`, in the file's order: name, oneofs,
/// fields.
const REFLECTION_MESSAGES: [(&str, &[&str], &[FieldDef]); 8] = [
    (
        "ServerReflectionRequest",
        &["message_request"],
        &[
            ("host", 1, LABEL_OPTIONAL, TYPE_STRING, "", None),
            (
                "file_by_filename",
                3,
                LABEL_OPTIONAL,
                TYPE_STRING,
                "",
                Some(0),
            ),
            (
                "file_containing_symbol",
                4,
                LABEL_OPTIONAL,
                TYPE_STRING,
                "",
                Some(0),
            ),
            (
                "file_containing_extension",
                5,
                LABEL_OPTIONAL,
                TYPE_MESSAGE,
                "ExtensionRequest",
                Some(0),
            ),
            (
                "all_extension_numbers_of_type",
                6,
                LABEL_OPTIONAL,
                TYPE_STRING,
                "",
                Some(0),
            ),
            ("list_services", 7, LABEL_OPTIONAL, TYPE_STRING, "", Some(0)),
        ],
    ),
    (
        "ExtensionRequest",
        &[],
        &[
            ("containing_type", 1, LABEL_OPTIONAL, TYPE_STRING, "", None),
            ("extension_number", 2, LABEL_OPTIONAL, TYPE_INT32, "", None),
        ],
    ),
    (
        "ServerReflectionResponse",
        &["message_response"],
        &[
            ("valid_host", 1, LABEL_OPTIONAL, TYPE_STRING, "", None),
            (
                "original_request",
                2,
                LABEL_OPTIONAL,
                TYPE_MESSAGE,
                "ServerReflectionRequest",
                None,
            ),
            (
                "file_descriptor_response",
                4,
                LABEL_OPTIONAL,
                TYPE_MESSAGE,
                "FileDescriptorResponse",
                Some(0),
            ),
            (
                "all_extension_numbers_response",
                5,
                LABEL_OPTIONAL,
                TYPE_MESSAGE,
                "ExtensionNumberResponse",
                Some(0),
            ),
            (
                "list_services_response",
                6,
                LABEL_OPTIONAL,
                TYPE_MESSAGE,
                "ListServiceResponse",
                Some(0),
            ),
            (
                "error_response",
                7,
                LABEL_OPTIONAL,
                TYPE_MESSAGE,
                "ErrorResponse",
                Some(0),
            ),
        ],
    ),
    (
        "FileDescriptorResponse",
        &[],
        &[(
            "file_descriptor_proto",
            1,
            LABEL_REPEATED,
            TYPE_BYTES,
            "",
            None,
        )],
    ),
    (
        "ExtensionNumberResponse",
        &[],
        &[
            ("base_type_name", 1, LABEL_OPTIONAL, TYPE_STRING, "", None),
            ("extension_number", 2, LABEL_REPEATED, TYPE_INT32, "", None),
        ],
    ),
    (
        "ListServiceResponse",
        &[],
        &[(
            "service",
            1,
            LABEL_REPEATED,
            TYPE_MESSAGE,
            "ServiceResponse",
            None,
        )],
    ),
    (
        "ServiceResponse",
        &[],
        &[("name", 1, LABEL_OPTIONAL, TYPE_STRING, "", None)],
    ),
    (
        "ErrorResponse",
        &[],
        &[
            ("error_code", 1, LABEL_OPTIONAL, TYPE_INT32, "", None),
            ("error_message", 2, LABEL_OPTIONAL, TYPE_STRING, "", None),
        ],
    ),
];

/// A `reflection.proto` of package `package`, written field by field in
/// field-number order, as protoc writes descriptors.
fn reflection_file(name: &str, package: &str, go: &str, deprecated: bool) -> Bytes {
    let mut file = BytesMut::new();
    put_bytes(&mut file, 1, name.as_bytes());
    put_bytes(&mut file, 2, package.as_bytes());
    for (message, oneofs, fields) in REFLECTION_MESSAGES {
        let mut m = BytesMut::new();
        put_bytes(&mut m, 1, message.as_bytes());
        for &(field, number, label, ty, type_name, oneof) in fields {
            let mut f = BytesMut::new();
            put_bytes(&mut f, 1, field.as_bytes());
            put_uint(&mut f, 3, number);
            put_uint(&mut f, 4, label);
            put_uint(&mut f, 5, ty);
            if !type_name.is_empty() {
                put_bytes(&mut f, 6, format!(".{package}.{type_name}").as_bytes());
            }
            if let Some(i) = oneof {
                put_uint(&mut f, 9, i);
            }
            put_bytes(&mut f, 10, json_name(field).as_bytes());
            put_bytes(&mut m, 2, &f);
        }
        for oneof in oneofs {
            let mut o = BytesMut::new();
            put_bytes(&mut o, 1, oneof.as_bytes());
            put_bytes(&mut m, 8, &o);
        }
        put_bytes(&mut file, 4, &m);
    }
    let mut method = BytesMut::new();
    put_bytes(&mut method, 1, METHOD.as_bytes());
    put_bytes(
        &mut method,
        2,
        format!(".{package}.ServerReflectionRequest").as_bytes(),
    );
    put_bytes(
        &mut method,
        3,
        format!(".{package}.ServerReflectionResponse").as_bytes(),
    );
    put_uint(&mut method, 5, 1); // client_streaming
    put_uint(&mut method, 6, 1); // server_streaming
    let mut service = BytesMut::new();
    put_bytes(&mut service, 1, b"ServerReflection");
    put_bytes(&mut service, 2, &method);
    put_bytes(&mut file, 6, &service);
    // FileOptions: java_package, java_outer_classname,
    // java_multiple_files, go_package, deprecated.
    let mut options = BytesMut::new();
    put_bytes(&mut options, 1, format!("io.{package}").as_bytes());
    put_bytes(&mut options, 8, b"ServerReflectionProto");
    put_uint(&mut options, 10, 1);
    put_bytes(
        &mut options,
        11,
        format!("google.golang.org/grpc/reflection/{go}").as_bytes(),
    );
    if deprecated {
        put_uint(&mut options, 23, 1);
    }
    put_bytes(&mut file, 8, &options);
    put_bytes(&mut file, 12, b"proto3");
    file.freeze()
}

/// protoc's JSON name of a field: lowerCamelCase of its snake_case name.
fn json_name(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn not_found(out: &mut BytesMut, message: &str) {
    let mut body = BytesMut::new();
    put_uint(&mut body, 1, Code::NotFound as u64);
    put_bytes(&mut body, 2, message.as_bytes());
    put_bytes(out, 7, &body);
}

/// A name asked for. Its length is bounded by the message size limit;
/// one the pool does not know is a NOT_FOUND answer, whatever its length.
fn name_arg(v: &[u8]) -> Result<String, Status> {
    utf8(v)
}

fn qualify(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

/// The `name` (field 1) of a descriptor message.
fn named(body: &[u8]) -> Result<String, Status> {
    let mut name = None;
    walk(body, bad, |field, value| {
        if let (1, Value::Bytes(v)) = (field, value) {
            name = Some(utf8(v)?);
        }
        Ok(())
    })?;
    name.ok_or_else(|| bad("a definition without a name"))
}

/// What a file defines, as it is read.
#[derive(Default)]
struct Found {
    /// Every fully qualified name.
    symbols: Vec<String>,
    /// The message types among them.
    messages: Vec<String>,
    /// Extensions: the message extended, the extension's name, its number.
    extensions: Vec<(String, String, i32)>,
}

/// The symbols of an `EnumDescriptorProto` in `scope`: the enum, and its
/// values, which protobuf scopes beside the enum, not inside it.
fn enum_symbols(body: &[u8], scope: &str, found: &mut Found) -> Result<(), Status> {
    found.symbols.push(qualify(scope, &named(body)?));
    walk(body, bad, |field, value| {
        if let (2, Value::Bytes(v)) = (field, value) {
            found.symbols.push(qualify(scope, &named(v)?));
        }
        Ok(())
    })
}

/// The symbols of a `DescriptorProto` in `scope`: the message, its
/// fields, nested messages and enums, and the extensions it declares.
fn message_symbols(
    body: &[u8],
    scope: &str,
    found: &mut Found,
    depth: usize,
) -> Result<(), Status> {
    // protoc allows deep nesting, but not this deep; the bound keeps a
    // crafted descriptor from exhausting the stack.
    if depth > 64 {
        return Err(bad("messages nested too deeply"));
    }
    let full = qualify(scope, &named(body)?);
    let mut nested = Vec::new();
    let mut enums = Vec::new();
    walk(body, bad, |field, value| {
        match (field, value) {
            (2, Value::Bytes(f)) => found.symbols.push(format!("{full}.{}", named(f)?)),
            (3, Value::Bytes(m)) => nested.push(m),
            (4, Value::Bytes(e)) => enums.push(e),
            (6, Value::Bytes(x)) => found.extensions.push(extension(x, &full)?),
            _ => {}
        }
        Ok(())
    })?;
    for e in enums {
        enum_symbols(e, &full, found)?;
    }
    for m in nested {
        message_symbols(m, &full, found, depth + 1)?;
    }
    found.symbols.push(full.clone());
    found.messages.push(full);
    Ok(())
}

/// A `ServiceDescriptorProto`'s name and its methods' names.
fn service_symbols(body: &[u8]) -> Result<(String, Vec<String>), Status> {
    let mut methods = Vec::new();
    walk(body, bad, |field, value| {
        if let (2, Value::Bytes(m)) = (field, value) {
            methods.push(named(m)?);
        }
        Ok(())
    })?;
    Ok((named(body)?, methods))
}

/// An extension `FieldDescriptorProto` declared in `scope`: the message
/// it extends, its own full name, its number.
fn extension(body: &[u8], scope: &str) -> Result<(String, String, i32), Status> {
    let mut extendee = None;
    let mut number = None;
    walk(body, bad, |field, value| {
        match (field, value) {
            (2, Value::Bytes(v)) => extendee = Some(utf8(v)?),
            (3, Value::Varint(n)) => number = Some(n as i32),
            _ => {}
        }
        Ok(())
    })?;
    let extendee = extendee.ok_or_else(|| bad("an extension without its extendee"))?;
    let number = number.ok_or_else(|| bad("an extension without a number"))?;
    let extendee = extendee.strip_prefix('.').unwrap_or(&extendee).to_string();
    Ok((extendee, qualify(scope, &named(body)?), number))
}

fn utf8(v: &[u8]) -> Result<String, Status> {
    std::str::from_utf8(v)
        .map(str::to_owned)
        .map_err(|_| bad("a name is not UTF-8"))
}

fn bad(what: &str) -> Status {
    Status::new(
        Code::InvalidArgument,
        format!("malformed reflection message: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(fields: &[(u64, &[u8])]) -> Vec<u8> {
        let mut b = BytesMut::new();
        for (n, v) in fields {
            put_bytes(&mut b, *n, v);
        }
        b.to_vec()
    }

    fn named_msg(name: &str, more: &[(u64, &[u8])]) -> Vec<u8> {
        let mut f: Vec<(u64, &[u8])> = vec![(1, name.as_bytes())];
        f.extend_from_slice(more);
        msg(&f)
    }

    /// dep.proto: package dep; message Shared { int32 a = 1; }
    fn dep_file() -> Vec<u8> {
        let field_a = named_msg("a", &[]);
        let shared = named_msg("Shared", &[(2, &field_a)]);
        msg(&[(1, b"dep.proto"), (2, b"dep"), (4, &shared)])
    }

    /// svc.proto: package test.v1; import "dep.proto";
    /// message Req { message Inner {} enum Kind { K0 } }; enum Top { T0 };
    /// service Echo { rpc Say; rpc Shout; }
    /// extend dep.Shared { int32 ext = 100; }
    fn svc_file() -> Vec<u8> {
        let inner = named_msg("Inner", &[]);
        let k0 = named_msg("K0", &[]);
        let kind = named_msg("Kind", &[(2, &k0)]);
        let req = named_msg("Req", &[(3, &inner), (4, &kind)]);
        let t0 = named_msg("T0", &[]);
        let top = named_msg("Top", &[(2, &t0)]);
        let say = named_msg("Say", &[]);
        let shout = named_msg("Shout", &[]);
        let echo = named_msg("Echo", &[(2, &say), (2, &shout)]);
        let mut ext = BytesMut::new();
        put_bytes(&mut ext, 1, b"ext");
        put_bytes(&mut ext, 2, b".dep.Shared");
        put_uint(&mut ext, 3, 100);
        msg(&[
            (1, b"svc.proto"),
            (2, b"test.v1"),
            (3, b"dep.proto"),
            (4, &req),
            (5, &top),
            (6, &echo),
            (7, &ext),
        ])
    }

    fn pool() -> DescriptorPool {
        let set = msg(&[(1, &dep_file()), (1, &svc_file()), (1, &dep_file())]);
        let mut p = DescriptorPool::new();
        p.add_file_descriptor_set(&set).unwrap();
        p
    }

    /// (field, bytes) of each length-delimited field.
    fn parts(b: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        walk(b, bad, |n, v| {
            match v {
                Value::Bytes(v) => out.push((n, v.to_vec())),
                Value::Varint(x) => out.push((n, x.to_le_bytes().to_vec())),
            }
            Ok(())
        })
        .unwrap();
        out
    }

    fn request(kind: u64, arg: &[u8]) -> Vec<u8> {
        msg(&[(1, b"localhost"), (kind, arg)])
    }

    /// The files of a file_descriptor_response (field 4).
    fn files(response: &[u8]) -> Vec<Vec<u8>> {
        let p = parts(response);
        assert_eq!(p[0], (1, b"localhost".to_vec()));
        assert_eq!(p[1].0, 2, "the original request comes back");
        let body = &p
            .iter()
            .find(|(n, _)| *n == 4)
            .expect("file_descriptor_response")
            .1;
        parts(body).into_iter().map(|(_, f)| f).collect()
    }

    fn error_code(response: &[u8]) -> u64 {
        let p = parts(response);
        let body = &p.iter().find(|(n, _)| *n == 7).expect("error_response").1;
        let e = parts(body);
        u64::from_le_bytes(e[0].1.clone().try_into().unwrap())
    }

    #[test]
    fn the_pool_indexes_every_definition() {
        let p = pool();
        assert_eq!(p.services(), ["test.v1.Echo"]);
        for (symbol, file) in [
            ("test.v1.Echo", "svc.proto"),
            ("test.v1.Echo.Shout", "svc.proto"),
            ("test.v1.Req.Inner", "svc.proto"),
            (".test.v1.Req.Kind", "svc.proto"),
            ("test.v1.Top", "svc.proto"),
            // Enum values sit beside their enum.
            ("test.v1.T0", "svc.proto"),
            ("test.v1.Req.K0", "svc.proto"),
            ("test.v1.ext", "svc.proto"),
            ("dep.Shared", "dep.proto"),
            ("dep.Shared.a", "dep.proto"),
        ] {
            assert_eq!(p.file_containing_symbol(symbol), Some(file), "{symbol}");
        }
        assert_eq!(p.file_containing_symbol("test.v1.Nope"), None);
    }

    #[test]
    fn a_file_comes_with_its_imports_once_per_call() {
        let p = pool();
        let mut s = ReflectionStream::new();
        let r = s.answer(&p, &request(4, b"test.v1.Echo.Say")).unwrap();
        assert_eq!(files(&r), [svc_file(), dep_file()]);
        // The import went out already on this call; the file asked for
        // always comes.
        let r = s.answer(&p, &request(4, b"test.v1.Req")).unwrap();
        assert_eq!(files(&r), [svc_file()]);
        let r = s.answer(&p, &request(3, b"dep.proto")).unwrap();
        assert_eq!(files(&r), [dep_file()]);
        // A new call starts afresh.
        let r = ReflectionStream::new()
            .answer(&p, &request(3, b"svc.proto"))
            .unwrap();
        assert_eq!(files(&r), [svc_file(), dep_file()]);
    }

    #[test]
    fn services_extensions_and_misses() {
        let p = pool();
        let mut s = ReflectionStream::new();
        let r = s.answer(&p, &request(7, b"")).unwrap();
        let list = &parts(&r).into_iter().find(|(n, _)| *n == 6).unwrap().1;
        let names: Vec<Vec<u8>> = parts(list)
            .into_iter()
            .map(|(_, svc)| parts(&svc)[0].1.clone())
            .collect();
        assert_eq!(names, [b"test.v1.Echo".to_vec()]);

        let mut ext = BytesMut::new();
        put_bytes(&mut ext, 1, b"dep.Shared");
        put_uint(&mut ext, 2, 100);
        let r = s.answer(&p, &request(5, &ext)).unwrap();
        assert_eq!(files(&r), [svc_file(), dep_file()]);

        let r = s.answer(&p, &request(6, b"dep.Shared")).unwrap();
        let body = &parts(&r).into_iter().find(|(n, _)| *n == 5).unwrap().1;
        let numbers = parts(body);
        assert_eq!(numbers[0], (1, b"dep.Shared".to_vec()));
        assert_eq!(numbers[1], (2, 100u64.to_le_bytes().to_vec()));

        // The last two: only messages have extension numbers.
        for (kind, arg) in [
            (3, &b"nope.proto"[..]),
            (4, b"no.Such"),
            (6, b"no.Such"),
            (6, b"test.v1.Echo"),
            (6, b"test.v1.Top"),
        ] {
            let r = s.answer(&p, &request(kind, arg)).unwrap();
            assert_eq!(error_code(&r), 5, "{kind}");
        }
        let mut ext = BytesMut::new();
        put_bytes(&mut ext, 1, b"dep.Shared");
        put_uint(&mut ext, 2, 101);
        let r = s.answer(&p, &request(5, &ext)).unwrap();
        assert_eq!(error_code(&r), 5);
    }

    #[test]
    fn bad_requests_and_descriptors_are_refused() {
        let p = pool();
        let mut s = ReflectionStream::new();
        for r in [
            &b"\x0a\x09localhost"[..],
            b"\x1a\x05ab",
            b"\x22\x02\xff\xfe",
        ] {
            assert_eq!(
                s.answer(&p, r).unwrap_err().code(),
                Code::InvalidArgument,
                "{r:?}"
            );
        }
        let mut p = DescriptorPool::new();
        assert!(p.add_file_descriptor_set(b"\x0a\x05ab").is_err());
        // A set with a bad file adds nothing, not even its good files.
        let set = msg(&[(1, &dep_file()), (1, b"\x12\x03pkg")]);
        assert!(p.add_file_descriptor_set(&set).is_err());
        assert_eq!(p.file_containing_symbol("dep.Shared"), None);
        assert!(
            p.add_file(Bytes::from_static(b"\x12\x03pkg")).is_err(),
            "no name"
        );
        // Nesting past the bound is an error, not a stack overflow.
        let mut m = named_msg("M", &[]);
        for _ in 0..100 {
            m = named_msg("M", &[(3, &m)]);
        }
        let file = msg(&[(1, b"deep.proto"), (4, &m)]);
        assert!(p.add_file(Bytes::from(file)).is_err());
        assert!(p.services().is_empty());
    }

    /// A field of a `DescriptorProto` as written: number, label, type,
    /// type_name, oneof_index, json_name.
    type Field = (u64, u64, u64, String, Option<u64>, String);

    fn text(v: &[u8]) -> String {
        String::from_utf8(v.to_vec()).unwrap()
    }

    /// The messages of a `FileDescriptorProto`: name -> (fields by name,
    /// oneof names).
    fn message_fields(file: &[u8]) -> HashMap<String, (HashMap<String, Field>, Vec<String>)> {
        let mut out = HashMap::new();
        walk(file, bad, |n, v| {
            if let (4, Value::Bytes(m)) = (n, v) {
                let (mut name, mut fields, mut oneofs) = (String::new(), HashMap::new(), vec![]);
                walk(m, bad, |n, v| {
                    match (n, v) {
                        (1, Value::Bytes(v)) => name = text(v),
                        (2, Value::Bytes(f)) => {
                            let mut field = (0, 0, 0, String::new(), None, String::new());
                            let mut fname = String::new();
                            walk(f, bad, |n, v| {
                                match (n, v) {
                                    (1, Value::Bytes(v)) => fname = text(v),
                                    (3, Value::Varint(x)) => field.0 = x,
                                    (4, Value::Varint(x)) => field.1 = x,
                                    (5, Value::Varint(x)) => field.2 = x,
                                    (6, Value::Bytes(v)) => field.3 = text(v),
                                    (9, Value::Varint(x)) => field.4 = Some(x),
                                    (10, Value::Bytes(v)) => field.5 = text(v),
                                    _ => panic!("field {n} in a field"),
                                }
                                Ok(())
                            })?;
                            fields.insert(fname, field);
                        }
                        (8, Value::Bytes(o)) => oneofs.push(named(o)?),
                        _ => panic!("field {n} in a message"),
                    }
                    Ok(())
                })?;
                out.insert(name, (fields, oneofs));
            }
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn the_reflection_service_describes_itself() {
        let mut p = DescriptorPool::new();
        p.add_reflection_service();
        assert_eq!(p.services(), [SERVICE_V1, SERVICE_V1ALPHA]);
        for (symbol, file) in [
            ("grpc.reflection.v1.ServerReflection", FILE_V1),
            (
                "grpc.reflection.v1.ServerReflection.ServerReflectionInfo",
                FILE_V1,
            ),
            ("grpc.reflection.v1.ServerReflectionRequest", FILE_V1),
            (".grpc.reflection.v1.ErrorResponse.error_code", FILE_V1),
            ("grpc.reflection.v1alpha.ServerReflection", FILE_V1ALPHA),
            ("grpc.reflection.v1alpha.ServiceResponse", FILE_V1ALPHA),
        ] {
            assert_eq!(p.file_containing_symbol(symbol), Some(file), "{symbol}");
        }
        // Asked by symbol, the file comes as built, alone (no imports).
        let mut s = ReflectionStream::new();
        let r = s
            .answer(&p, &request(4, b"grpc.reflection.v1.ServerReflection"))
            .unwrap();
        assert_eq!(files(&r), [file_descriptor_v1().to_vec()]);
        let r = s.answer(&p, &request(3, FILE_V1ALPHA.as_bytes())).unwrap();
        assert_eq!(files(&r), [file_descriptor_v1alpha().to_vec()]);
        // Twice is once.
        p.add_reflection_service();
        assert_eq!(p.services(), [SERVICE_V1, SERVICE_V1ALPHA]);
    }

    #[test]
    fn the_reflection_descriptors_match_the_published_files() {
        for (file, name, package, deprecated) in [
            (file_descriptor_v1(), FILE_V1, "grpc.reflection.v1", false),
            (
                file_descriptor_v1alpha(),
                FILE_V1ALPHA,
                "grpc.reflection.v1alpha",
                true,
            ),
        ] {
            let p = parts(&file);
            assert_eq!(p[0], (1, name.as_bytes().to_vec()));
            assert_eq!(p[1], (2, package.as_bytes().to_vec()));
            assert_eq!(p.last().unwrap(), &(12, b"proto3".to_vec()));
            assert!(!p.iter().any(|(n, _)| *n == 3), "no imports");
            let options = &p.iter().find(|(n, _)| *n == 8).unwrap().1;
            assert_eq!(
                parts(options).iter().any(|(n, _)| *n == 23),
                deprecated,
                "{name}"
            );

            let messages = message_fields(&file);
            let mut names: Vec<&str> = messages.keys().map(String::as_str).collect();
            names.sort_unstable();
            assert_eq!(
                names,
                [
                    "ErrorResponse",
                    "ExtensionNumberResponse",
                    "ExtensionRequest",
                    "FileDescriptorResponse",
                    "ListServiceResponse",
                    "ServerReflectionRequest",
                    "ServerReflectionResponse",
                    "ServiceResponse",
                ]
            );
            let ty = |t: &str| format!(".{package}.{t}");
            let (opt, rep) = (LABEL_OPTIONAL, LABEL_REPEATED);
            let no = String::new;
            let s = |x: &str| x.to_string();
            let expected: [(&str, &str, Field); 20] = [
                (
                    "ServerReflectionRequest",
                    "host",
                    (1, opt, 9, no(), None, s("host")),
                ),
                (
                    "ServerReflectionRequest",
                    "file_by_filename",
                    (3, opt, 9, no(), Some(0), s("fileByFilename")),
                ),
                (
                    "ServerReflectionRequest",
                    "file_containing_symbol",
                    (4, opt, 9, no(), Some(0), s("fileContainingSymbol")),
                ),
                (
                    "ServerReflectionRequest",
                    "file_containing_extension",
                    (
                        5,
                        opt,
                        11,
                        ty("ExtensionRequest"),
                        Some(0),
                        s("fileContainingExtension"),
                    ),
                ),
                (
                    "ServerReflectionRequest",
                    "all_extension_numbers_of_type",
                    (6, opt, 9, no(), Some(0), s("allExtensionNumbersOfType")),
                ),
                (
                    "ServerReflectionRequest",
                    "list_services",
                    (7, opt, 9, no(), Some(0), s("listServices")),
                ),
                (
                    "ExtensionRequest",
                    "containing_type",
                    (1, opt, 9, no(), None, s("containingType")),
                ),
                (
                    "ExtensionRequest",
                    "extension_number",
                    (2, opt, 5, no(), None, s("extensionNumber")),
                ),
                (
                    "ServerReflectionResponse",
                    "valid_host",
                    (1, opt, 9, no(), None, s("validHost")),
                ),
                (
                    "ServerReflectionResponse",
                    "original_request",
                    (
                        2,
                        opt,
                        11,
                        ty("ServerReflectionRequest"),
                        None,
                        s("originalRequest"),
                    ),
                ),
                (
                    "ServerReflectionResponse",
                    "file_descriptor_response",
                    (
                        4,
                        opt,
                        11,
                        ty("FileDescriptorResponse"),
                        Some(0),
                        s("fileDescriptorResponse"),
                    ),
                ),
                (
                    "ServerReflectionResponse",
                    "all_extension_numbers_response",
                    (
                        5,
                        opt,
                        11,
                        ty("ExtensionNumberResponse"),
                        Some(0),
                        s("allExtensionNumbersResponse"),
                    ),
                ),
                (
                    "ServerReflectionResponse",
                    "list_services_response",
                    (
                        6,
                        opt,
                        11,
                        ty("ListServiceResponse"),
                        Some(0),
                        s("listServicesResponse"),
                    ),
                ),
                (
                    "ServerReflectionResponse",
                    "error_response",
                    (7, opt, 11, ty("ErrorResponse"), Some(0), s("errorResponse")),
                ),
                (
                    "FileDescriptorResponse",
                    "file_descriptor_proto",
                    (1, rep, 12, no(), None, s("fileDescriptorProto")),
                ),
                (
                    "ExtensionNumberResponse",
                    "base_type_name",
                    (1, opt, 9, no(), None, s("baseTypeName")),
                ),
                (
                    "ExtensionNumberResponse",
                    "extension_number",
                    (2, rep, 5, no(), None, s("extensionNumber")),
                ),
                (
                    "ListServiceResponse",
                    "service",
                    (1, rep, 11, ty("ServiceResponse"), None, s("service")),
                ),
                (
                    "ServiceResponse",
                    "name",
                    (1, opt, 9, no(), None, s("name")),
                ),
                (
                    "ErrorResponse",
                    "error_code",
                    (1, opt, 5, no(), None, s("errorCode")),
                ),
            ];
            let mut count = 0;
            for (message, field, want) in expected {
                assert_eq!(
                    messages[message].0[field], want,
                    "{package}.{message}.{field}"
                );
                count += 1;
            }
            assert_eq!(
                messages["ErrorResponse"].0["error_message"],
                (2, opt, 9, no(), None, s("errorMessage"))
            );
            let total: usize = messages.values().map(|(f, _)| f.len()).sum();
            assert_eq!(total, count + 1, "no other fields");
            assert_eq!(messages["ServerReflectionRequest"].1, ["message_request"]);
            assert_eq!(messages["ServerReflectionResponse"].1, ["message_response"]);
            assert_eq!(
                messages.values().map(|(_, o)| o.len()).sum::<usize>(),
                2,
                "no other oneofs"
            );

            // service ServerReflection { rpc ServerReflectionInfo(stream
            // ServerReflectionRequest) returns (stream ServerReflectionResponse); }
            let services: Vec<_> = p.iter().filter(|(n, _)| *n == 6).collect();
            assert_eq!(services.len(), 1);
            let service = parts(&services[0].1);
            assert_eq!(service[0], (1, b"ServerReflection".to_vec()));
            assert_eq!(service.len(), 2, "one method");
            let method = parts(&service[1].1);
            let one = 1u64.to_le_bytes().to_vec();
            assert_eq!(
                method,
                [
                    (1, b"ServerReflectionInfo".to_vec()),
                    (2, ty("ServerReflectionRequest").into_bytes()),
                    (3, ty("ServerReflectionResponse").into_bytes()),
                    (5, one.clone()),
                    (6, one),
                ]
            );
        }
    }

    #[test]
    fn the_users_reflection_descriptors_win() {
        // The user's own copy of the v1 file, under the published name.
        let own_v1 = msg(&[(1, FILE_V1.as_bytes()), (2, b"grpc.reflection.v1")]);
        let mut p = DescriptorPool::new();
        p.add_file(Bytes::from(own_v1.clone())).unwrap();
        p.add_reflection_service();
        assert_eq!(p.services(), [SERVICE_V1ALPHA]);
        let r = ReflectionStream::new()
            .answer(&p, &request(3, FILE_V1.as_bytes()))
            .unwrap();
        assert_eq!(files(&r), [own_v1]);

        // The v1alpha service defined in a file of another name.
        let service = named_msg("ServerReflection", &[]);
        let own = msg(&[
            (1, b"mine/reflection.proto"),
            (2, b"grpc.reflection.v1alpha"),
            (6, &service),
        ]);
        let mut p = DescriptorPool::new();
        p.add_file(Bytes::from(own)).unwrap();
        p.add_reflection_service();
        assert_eq!(p.services(), [SERVICE_V1ALPHA, SERVICE_V1]);
        assert_eq!(
            p.file_containing_symbol(SERVICE_V1ALPHA),
            Some("mine/reflection.proto")
        );
        assert_eq!(
            p.file_containing_symbol("grpc.reflection.v1alpha.ErrorResponse"),
            None
        );
    }
}
