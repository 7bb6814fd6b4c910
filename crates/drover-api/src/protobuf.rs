//! Kubernetes protobuf request bodies, read into the JSON form Drover admits.
//!
//! kubectl's typed clients (`kubectl create job`, `kubectl create cronjob`, `kubectl create job
//! --from=cronjob/…`) send `Content-Type: application/vnd.kubernetes.protobuf`. [`decode`] turns
//! such a body into the `serde_json::Value` the same client would have sent as JSON, so the
//! coordinator admits it like any JSON body (strict field validation included).
//!
//! # Format
//!
//! A body is the four magic bytes `k8s\0`, then a `runtime.Unknown` message
//! (k8s.io/apimachinery/pkg/runtime/generated.proto): `typeMeta` (1: `apiVersion` 1, `kind` 2),
//! `raw` (2: the object's own message), `contentEncoding` (3) and `contentType` (4). `raw` is read
//! by its `apiVersion`/`kind` with a schema table (`message!` below): for each message, its field
//! numbers, JSON names, value kinds and how Go's `encoding/json` writes them. The numbers and names
//! are those of Kubernetes 1.32's `generated.proto` and `types.go` for batch/v1, core/v1 and
//! meta/v1.
//!
//! # Guarantees
//!
//! - Only batch/v1 `Job` and `CronJob` are read, with everything they contain, except pod
//!   `ephemeralContainers` and the volume sources other than `emptyDir` (refused by name).
//! - The JSON is what Go's `encoding/json` writes for the decoded object: Kubernetes' JSON names;
//!   embedded structs (`json:",inline"`) flattened; pointer fields present exactly when they are on
//!   the wire, whatever their value; value fields with `omitempty` left out when `""`, `0` or
//!   `false`; value structs always written (`"resources": {}`, `"status": {}`); maps and lists
//!   written when they have entries. `metav1.Time` (`{seconds, nanos}`) is an RFC 3339 string in
//!   UTC to the second, or `null` when zero (empty); `IntOrString` a number or a string;
//!   `resource.Quantity` its string (`"0"` when empty); `FieldsV1` its raw JSON.
//! - Strict: a field number a message's table does not list is an error naming the message and
//!   the number, never dropped; so are a wrong wire type, a truncated or overlong value, a string
//!   that is not UTF-8, and trailing bytes.
//! - As protobuf requires, a repeated scalar may come packed or not, a scalar given twice keeps
//!   its last value and a message given twice is merged.
//! - Errors name where they happened as a JSON path (`spec.template.spec.containers[0]`).
//!
//! Pure: no IO, no clock. Nothing is encoded: Drover answers JSON, which kubectl accepts.

use serde_json::{Map, Value};

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of a Kubernetes protobuf body.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a body is not a Kubernetes protobuf object Drover can read, and where ([`path`](Self::path)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtobufError {
    /// What went wrong.
    pub kind: ProtobufErrorKind,
    /// Where, as a JSON path into the object (`spec.template.spec.containers[0]`); empty for the
    /// envelope and the object's top level.
    pub path: String,
}

impl std::fmt::Display for ProtobufError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{} (at {})", self.kind, self.path)
        }
    }
}

impl std::error::Error for ProtobufError {}

impl From<ProtobufErrorKind> for ProtobufError {
    fn from(kind: ProtobufErrorKind) -> ProtobufError {
        ProtobufError { kind, path: String::new() }
    }
}

impl ProtobufError {
    /// The same error, one step further from the top: `segment` is prepended to the path.
    fn within(mut self, segment: &str) -> ProtobufError {
        self.path = match (self.path.is_empty(), self.path.starts_with('[')) {
            (true, _) => segment.to_string(),
            (false, true) => format!("{segment}{}", self.path),
            (false, false) => format!("{segment}.{}", self.path),
        };
        self
    }
}

/// The kinds of [`ProtobufError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufErrorKind {
    /// The body does not start with [`MAGIC`].
    #[error("the body does not start with the Kubernetes protobuf magic bytes \"k8s\\x00\"")]
    BadMagic,
    /// A value runs past the end of its message.
    #[error("truncated protobuf: a {0} runs past the end of its message")]
    Truncated(&'static str),
    /// A varint of more than 64 bits.
    #[error("a varint does not fit in 64 bits")]
    VarintOverflow,
    /// A tag with field number 0 or above 2²⁹−1.
    #[error("invalid field number {0}")]
    InvalidFieldNumber(u64),
    /// Wire type 3 or 4 (groups), 6 or 7 (undefined).
    #[error("unsupported wire type {0}")]
    UnsupportedWireType(u8),
    /// A field number the message's table does not list.
    #[error("unknown field {field} in {message}")]
    UnknownField {
        /// The message's protobuf name, e.g. `k8s.io.api.core.v1.Container`.
        message: String,
        /// The field number.
        field: u32,
    },
    /// A known field with another wire type than its kind's.
    #[error("field {field} ({name}) of {message} has wire type {found}, expected {expected}")]
    WrongWireType {
        /// The message's protobuf name.
        message: String,
        /// The field number.
        field: u32,
        /// The field's JSON name.
        name: &'static str,
        /// The wire type on the wire.
        found: u8,
        /// The wire type the field's kind has.
        expected: u8,
    },
    /// A string that is not UTF-8.
    #[error("field {field} ({name}) of {message} is not valid UTF-8")]
    InvalidUtf8 {
        /// The message's protobuf name.
        message: String,
        /// The field number.
        field: u32,
        /// The field's JSON name.
        name: &'static str,
    },
    /// A field of a subtree Drover does not describe.
    #[error("field {field} ({name}) of {message}: {what} are not supported by Drover")]
    Unsupported {
        /// The message's protobuf name.
        message: String,
        /// The field number.
        field: u32,
        /// The field's JSON name.
        name: &'static str,
        /// What is not supported, e.g. `volumes`.
        what: &'static str,
    },
    /// A `metav1.Time` outside years 0–9999.
    #[error("time {0}s since the epoch is out of range")]
    TimeOutOfRange(i64),
    /// An `IntOrString` whose type is neither 0 (int) nor 1 (string).
    #[error("IntOrString has impossible type {0}")]
    IntOrStringType(i64),
    /// A `FieldsV1` whose raw bytes are not JSON.
    #[error("fieldsV1 is not valid JSON: {0}")]
    FieldsV1(String),
    /// The envelope names no `apiVersion` or no `kind`.
    #[error("the object has no {0}")]
    MissingTypeMeta(&'static str),
    /// A `contentEncoding` in the envelope (the object is compressed or otherwise encoded).
    #[error("content encoding {0:?} is not supported")]
    ContentEncoding(String),
    /// An object other than batch/v1 `Job` and `CronJob`.
    #[error(
        "{kind} of apiVersion {api_version} cannot be sent as protobuf to Drover \
         (batch/v1 Job and CronJob can); send JSON"
    )]
    UnsupportedKind {
        /// The envelope's `apiVersion`.
        api_version: String,
        /// The envelope's `kind`.
        kind: String,
    },
}

use ProtobufErrorKind as E;

/// Reads a Kubernetes protobuf body (`k8s\0` + `runtime.Unknown`) into the JSON object a JSON
/// client would have sent: `apiVersion` and `kind` from the envelope, then the object's fields.
///
/// Only batch/v1 `Job` and `CronJob` are read; anything else is
/// [`ProtobufErrorKind::UnsupportedKind`].
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let unknown = body.strip_prefix(MAGIC.as_slice()).ok_or(E::BadMagic)?;
    let envelope = Envelope::read(unknown)?;
    if !envelope.content_encoding.is_empty() {
        return Err(E::ContentEncoding(envelope.content_encoding.to_string()).into());
    }
    if envelope.api_version.is_empty() {
        return Err(E::MissingTypeMeta("apiVersion").into());
    }
    if envelope.kind.is_empty() {
        return Err(E::MissingTypeMeta("kind").into());
    }
    let schema = match (envelope.api_version, envelope.kind) {
        ("batch/v1", "Job") => &JOB,
        ("batch/v1", "CronJob") => &CRON_JOB,
        (api_version, kind) => {
            return Err(
                E::UnsupportedKind { api_version: api_version.to_string(), kind: kind.to_string() }.into()
            );
        }
    };
    let mut object = Map::new();
    object.insert("apiVersion".into(), envelope.api_version.into());
    object.insert("kind".into(), envelope.kind.into());
    decode_into(envelope.raw, schema, &mut object)?;
    Ok(Value::Object(object))
}

// === the envelope ===

/// The `runtime.Unknown` message around the object.
#[derive(Debug, Default)]
struct Envelope<'a> {
    api_version: &'a str,
    kind: &'a str,
    raw: &'a [u8],
    content_encoding: &'a str,
}

const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const TYPE_META: &str = "k8s.io.apimachinery.pkg.runtime.TypeMeta";

impl<'a> Envelope<'a> {
    fn read(bytes: &'a [u8]) -> Result<Envelope<'a>, ProtobufError> {
        let mut envelope = Envelope::default();
        for item in Reader(bytes) {
            match item? {
                (1, Wire::Len(type_meta)) => {
                    for item in Reader(type_meta) {
                        match item? {
                            (1, Wire::Len(s)) => {
                                envelope.api_version = envelope_str(s, TYPE_META, 1, "apiVersion")?
                            }
                            (2, Wire::Len(s)) => envelope.kind = envelope_str(s, TYPE_META, 2, "kind")?,
                            (field, wire) => {
                                return Err(envelope_field(TYPE_META, field, &wire, &["apiVersion", "kind"]));
                            }
                        }
                    }
                }
                (2, Wire::Len(raw)) => envelope.raw = raw,
                (3, Wire::Len(s)) => {
                    envelope.content_encoding = envelope_str(s, UNKNOWN, 3, "contentEncoding")?
                }
                (4, Wire::Len(s)) => {
                    envelope_str(s, UNKNOWN, 4, "contentType")?;
                }
                (field, wire) => {
                    let names = ["typeMeta", "raw", "contentEncoding", "contentType"];
                    return Err(envelope_field(UNKNOWN, field, &wire, &names));
                }
            }
        }
        Ok(envelope)
    }
}

fn envelope_str<'a>(
    bytes: &'a [u8],
    message: &str,
    field: u32,
    name: &'static str,
) -> Result<&'a str, ProtobufError> {
    std::str::from_utf8(bytes).map_err(|_| E::InvalidUtf8 { message: message.into(), field, name }.into())
}

/// The error for an envelope field that is unknown or has a wrong wire type (every envelope field
/// is length-delimited); `names` are the known fields' names, numbered from 1.
fn envelope_field(message: &str, field: u32, wire: &Wire<'_>, names: &[&'static str]) -> ProtobufError {
    match names.get((field as usize).wrapping_sub(1)) {
        Some(name) => {
            E::WrongWireType { message: message.into(), field, name, found: wire.wire_type(), expected: 2 }
        }
        None => E::UnknownField { message: message.into(), field },
    }
    .into()
}

// === the wire format ===

/// One field's value as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, messages, packed repeated scalars.
    Len(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl Wire<'_> {
    fn wire_type(&self) -> u8 {
        match self {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Len(_) => 2,
            Wire::Fixed32(_) => 5,
        }
    }
}

/// The fields of one message, in wire order: `(number, value)`. After an error it yields nothing
/// more that makes sense; callers stop at the first.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ProtobufErrorKind> {
        if n > self.0.len() {
            return Err(E::Truncated(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, ProtobufErrorKind> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = *self.take(1, "varint")?.first().unwrap_or(&0);
            // The tenth byte holds bit 63 only.
            if i == 9 && byte > 1 {
                return Err(E::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(E::VarintOverflow)
    }

    fn field(&mut self) -> Result<(u32, Wire<'a>), ProtobufErrorKind> {
        let tag = self.varint()?;
        let number = tag >> 3;
        if number == 0 || number > (1 << 29) - 1 {
            return Err(E::InvalidFieldNumber(number));
        }
        let wire = match (tag & 7) as u8 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.fixed("64-bit value")?)),
            2 => {
                let len =
                    usize::try_from(self.varint()?).map_err(|_| E::Truncated("length-delimited value"))?;
                Wire::Len(self.take(len, "length-delimited value")?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.fixed("32-bit value")?)),
            other => return Err(E::UnsupportedWireType(other)),
        };
        Ok((number as u32, wire))
    }

    fn fixed<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ProtobufErrorKind> {
        let bytes = self.take(N, what)?;
        Ok(bytes.try_into().unwrap_or([0; N]))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<(u32, Wire<'a>), ProtobufError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let item = self.field();
        if item.is_err() {
            self.0 = &[];
        }
        Some(item.map_err(ProtobufError::from))
    }
}

// === the schema ===

/// One message: its protobuf name and its fields.
#[derive(Debug)]
struct Message {
    name: &'static str,
    fields: &'static [Field],
}

impl Message {
    fn field(&self, number: u32) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.number == number)
    }
}

/// One field of a [`Message`].
#[derive(Debug)]
struct Field {
    number: u32,
    /// The JSON name (Go's `json` tag).
    name: &'static str,
    shape: Shape,
    kind: Kind,
}

/// How a field is written to JSON: Go's `encoding/json` rules for its Go type and tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A pointer (`*T`): on the wire exactly when set, and then always written.
    Optional,
    /// A scalar value with `omitempty`: written unless `""`, `0` or `false`.
    OmitEmpty,
    /// A value without `omitempty`, or a struct (which `omitempty` never leaves out): always
    /// written.
    Required,
    /// A slice: each occurrence is an item (repeated varints may also come packed).
    Repeated,
    /// A `map[string]V`: repeated `{1: key, 2: value}` entries.
    Map,
    /// An embedded struct (`json:",inline"`): its fields are written into the parent's object.
    Inline,
}

/// What a field's value is, on the wire and in JSON.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `string` (and Go string types): length-delimited UTF-8.
    Str,
    /// `bool`: varint.
    Bool,
    /// `int32`: varint, truncated to 32 bits as Go does.
    I32,
    /// `int64`: varint.
    I64,
    /// A message of the table.
    Msg(&'static Message),
    /// `metav1.Time`: `{1: seconds int64, 2: nanos int32}`, RFC 3339 to the second; `null` when
    /// empty.
    Time,
    /// `intstr.IntOrString`: `{1: type int64, 2: intVal int32, 3: strVal string}`.
    IntOrString,
    /// `resource.Quantity`: `{1: string}`.
    Quantity,
    /// `metav1.FieldsV1`: `{1: Raw bytes}`, raw JSON.
    FieldsV1,
    /// A subtree Drover does not describe: refused when present, naming this.
    Unsupported(&'static str),
}

impl Kind {
    fn wire_type(self) -> u8 {
        match self {
            Kind::Bool | Kind::I32 | Kind::I64 => 0,
            _ => 2,
        }
    }
}

// === the transcoder ===

/// Decodes the fields of `bytes`, a `message`, into `out` (merging with what is there).
fn decode_into(bytes: &[u8], message: &Message, out: &mut Map<String, Value>) -> Result<(), ProtobufError> {
    for item in Reader(bytes) {
        let (number, wire) = item?;
        let field = message
            .field(number)
            .ok_or_else(|| E::UnknownField { message: message.name.into(), field: number })?;
        decode_field(message, field, wire, out)?;
    }
    Ok(())
}

fn decode_field(
    message: &Message,
    field: &'static Field,
    wire: Wire<'_>,
    out: &mut Map<String, Value>,
) -> Result<(), ProtobufError> {
    let context = Context { message, field };
    if let Kind::Unsupported(what) = field.kind {
        let error = context.error(|message, field, name| E::Unsupported { message, field, name, what });
        return Err(error.within(field.name));
    }
    match field.shape {
        Shape::Inline => {
            let (Kind::Msg(inner), Wire::Len(bytes)) = (field.kind, wire) else {
                return Err(context.wrong_wire_type(wire));
            };
            decode_into(bytes, inner, out)
        }
        Shape::Repeated => {
            let mut items = match out.remove(field.name) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            match (field.kind.wire_type(), wire) {
                (0, Wire::Len(packed)) => {
                    let mut reader = Reader(packed);
                    while !reader.0.is_empty() {
                        let v = reader.varint().map_err(|e| ProtobufError::from(e).within(field.name))?;
                        items.push(context.scalar(Wire::Varint(v))?);
                    }
                }
                _ => {
                    let index = items.len();
                    let item = context
                        .value(wire, None)
                        .map_err(|e| e.within(&format!("{}[{index}]", field.name)))?;
                    items.push(item);
                }
            }
            out.insert(field.name.into(), Value::Array(items));
            Ok(())
        }
        Shape::Map => {
            let Wire::Len(entry) = wire else {
                return Err(context.wrong_wire_type(wire));
            };
            let (key, value) = context.map_entry(entry).map_err(|e| e.within(field.name))?;
            let mut map = match out.remove(field.name) {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            map.insert(key, value);
            out.insert(field.name.into(), Value::Object(map));
            Ok(())
        }
        Shape::Optional | Shape::Required | Shape::OmitEmpty => {
            let existing = out.remove(field.name);
            let value = context.value(wire, existing).map_err(|e| e.within(field.name))?;
            if !(field.shape == Shape::OmitEmpty && is_empty_scalar(&value)) {
                out.insert(field.name.into(), value);
            }
            Ok(())
        }
    }
}

/// `""`, `0` or `false`: what `omitempty` leaves out (of the scalars it applies to here).
fn is_empty_scalar(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        _ => false,
    }
}

/// The field being decoded, for its values and errors.
struct Context<'s> {
    message: &'s Message,
    field: &'static Field,
}

impl Context<'_> {
    fn error(&self, make: impl FnOnce(String, u32, &'static str) -> ProtobufErrorKind) -> ProtobufError {
        make(self.message.name.to_string(), self.field.number, self.field.name).into()
    }

    fn wrong_wire_type(&self, wire: Wire<'_>) -> ProtobufError {
        let expected = match self.field.shape {
            Shape::Map | Shape::Inline => 2,
            _ => self.field.kind.wire_type(),
        };
        self.error(|message, field, name| E::WrongWireType {
            message,
            field,
            name,
            found: wire.wire_type(),
            expected,
        })
    }

    /// A scalar (string, bool, int) from its wire value.
    fn scalar(&self, wire: Wire<'_>) -> Result<Value, ProtobufError> {
        match (self.field.kind, wire) {
            (Kind::Str, Wire::Len(bytes)) => match std::str::from_utf8(bytes) {
                Ok(s) => Ok(Value::String(s.to_string())),
                Err(_) => Err(self.error(|message, field, name| E::InvalidUtf8 { message, field, name })),
            },
            (Kind::Bool, Wire::Varint(v)) => Ok(Value::Bool(v != 0)),
            (Kind::I32, Wire::Varint(v)) => Ok(Value::from(v as i32)),
            (Kind::I64, Wire::Varint(v)) => Ok(Value::from(v as i64)),
            _ => Err(self.wrong_wire_type(wire)),
        }
    }

    /// The field's value; a message merges into `existing` when that is an object.
    fn value(&self, wire: Wire<'_>, existing: Option<Value>) -> Result<Value, ProtobufError> {
        let Wire::Len(bytes) = wire else {
            return self.scalar(wire);
        };
        match self.field.kind {
            Kind::Msg(inner) => {
                let mut object = match existing {
                    Some(Value::Object(object)) => object,
                    _ => Map::new(),
                };
                decode_into(bytes, inner, &mut object)?;
                Ok(Value::Object(object))
            }
            Kind::Time => time(bytes),
            Kind::IntOrString => int_or_string(bytes),
            Kind::Quantity => quantity(bytes),
            Kind::FieldsV1 => fields_v1(bytes),
            _ => self.scalar(wire),
        }
    }

    /// A map entry `{1: key string, 2: value}`.
    fn map_entry(&self, entry: &[u8]) -> Result<(String, Value), ProtobufError> {
        let entry_name = format!("{}.{}Entry", self.message.name, upper_first(self.field.name));
        let (mut key, mut value) = (String::new(), None);
        for item in Reader(entry) {
            match item? {
                (1, Wire::Len(bytes)) => {
                    key = std::str::from_utf8(bytes)
                        .map_err(|_| E::InvalidUtf8 { message: entry_name.clone(), field: 1, name: "key" })?
                        .to_string();
                }
                (2, wire) => {
                    value = Some(self.value(wire, value.take()).map_err(|e| e.within(&format!("[{key:?}]")))?)
                }
                (1, wire) => {
                    let found = wire.wire_type();
                    let kind =
                        E::WrongWireType { message: entry_name, field: 1, name: "key", found, expected: 2 };
                    return Err(kind.into());
                }
                (field, _) => return Err(E::UnknownField { message: entry_name, field }.into()),
            }
        }
        let value = match value {
            Some(value) => value,
            None => match self.field.kind {
                Kind::Quantity => Value::from("0"),
                _ => Value::from(""),
            },
        };
        Ok((key, value))
    }
}

fn upper_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// The fields of a small fixed message (`{number: wire}`), refusing unknown numbers and wire
/// types other than the expected ones.
fn small_message<'a, const N: usize>(
    bytes: &'a [u8],
    message: &'static str,
    fields: [(&'static str, u8); N],
) -> Result<[Option<Wire<'a>>; N], ProtobufError> {
    let mut values = [None; N];
    for item in Reader(bytes) {
        let (number, wire) = item?;
        let index = (number as usize).wrapping_sub(1);
        let Some(&(name, expected)) = fields.get(index) else {
            return Err(E::UnknownField { message: message.into(), field: number }.into());
        };
        if wire.wire_type() != expected {
            let found = wire.wire_type();
            return Err(
                E::WrongWireType { message: message.into(), field: number, name, found, expected }.into()
            );
        }
        values[index] = Some(wire);
    }
    Ok(values)
}

fn small_str(
    wire: Option<Wire<'_>>,
    message: &'static str,
    field: u32,
    name: &'static str,
) -> Result<String, ProtobufError> {
    match wire {
        Some(Wire::Len(bytes)) => std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| E::InvalidUtf8 { message: message.into(), field, name }.into()),
        _ => Ok(String::new()),
    }
}

fn small_int(wire: Option<Wire<'_>>) -> i64 {
    match wire {
        Some(Wire::Varint(v)) => v as i64,
        _ => 0,
    }
}

/// `metav1.Time`: empty is the zero time (`null`); otherwise seconds since the epoch, in UTC, to
/// the second (Kubernetes drops the nanoseconds when it reads a Time).
fn time(bytes: &[u8]) -> Result<Value, ProtobufError> {
    const TIMESTAMP: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Timestamp";
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let [seconds, _nanos] = small_message(bytes, TIMESTAMP, [("seconds", 0), ("nanos", 0)])?;
    let seconds = small_int(seconds);
    let at = chrono::DateTime::from_timestamp(seconds, 0)
        .filter(|at| (0..=9999).contains(&chrono::Datelike::year(at)))
        .ok_or(E::TimeOutOfRange(seconds))?;
    Ok(Value::String(at.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// `intstr.IntOrString`: the number when its type is 0, the string when it is 1.
fn int_or_string(bytes: &[u8]) -> Result<Value, ProtobufError> {
    const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
    let [kind, int_val, str_val] =
        small_message(bytes, INT_OR_STRING, [("type", 0), ("intVal", 0), ("strVal", 2)])?;
    match small_int(kind) {
        0 => Ok(Value::from(small_int(int_val) as i32)),
        1 => Ok(Value::String(small_str(str_val, INT_OR_STRING, 3, "strVal")?)),
        other => Err(E::IntOrStringType(other).into()),
    }
}

/// `resource.Quantity`: its string, `"0"` when empty (the zero Quantity).
fn quantity(bytes: &[u8]) -> Result<Value, ProtobufError> {
    const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";
    let [string] = small_message(bytes, QUANTITY, [("string", 2)])?;
    let string = small_str(string, QUANTITY, 1, "string")?;
    Ok(Value::String(if string.is_empty() { "0".into() } else { string }))
}

/// `metav1.FieldsV1`: its raw bytes are JSON, written as they are; `null` when empty.
fn fields_v1(bytes: &[u8]) -> Result<Value, ProtobufError> {
    const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
    let [raw] = small_message(bytes, FIELDS_V1, [("Raw", 2)])?;
    match raw {
        Some(Wire::Len(raw)) if !raw.is_empty() => {
            serde_json::from_slice(raw).map_err(|e| E::FieldsV1(e.to_string()).into())
        }
        _ => Ok(Value::Null),
    }
}

// === the table ===

/// `message!(STATIC = "protobuf name" { (number, "jsonName", Shape, Kind), … })`.
macro_rules! message {
    ($static:ident = $name:literal { $(($number:literal, $json:literal, $shape:ident, $kind:expr)),* $(,)? }) => {
        static $static: Message = Message {
            name: $name,
            fields: &[$(Field { number: $number, name: $json, shape: Shape::$shape, kind: $kind }),*],
        };
    };
}

use Kind::{Bool, FieldsV1, I32, I64, IntOrString, Msg, Quantity, Str, Time, Unsupported};

// --- batch/v1 ---

message!(JOB = "k8s.io.api.batch.v1.Job" {
    (1, "metadata", Required, Msg(&OBJECT_META)),
    (2, "spec", Required, Msg(&JOB_SPEC)),
    (3, "status", Required, Msg(&JOB_STATUS)),
});

message!(JOB_SPEC = "k8s.io.api.batch.v1.JobSpec" {
    (1, "parallelism", Optional, I32),
    (2, "completions", Optional, I32),
    (3, "activeDeadlineSeconds", Optional, I64),
    (11, "podFailurePolicy", Optional, Msg(&POD_FAILURE_POLICY)),
    (16, "successPolicy", Optional, Msg(&SUCCESS_POLICY)),
    (7, "backoffLimit", Optional, I32),
    (12, "backoffLimitPerIndex", Optional, I32),
    (13, "maxFailedIndexes", Optional, I32),
    (4, "selector", Optional, Msg(&LABEL_SELECTOR)),
    (5, "manualSelector", Optional, Bool),
    (6, "template", Required, Msg(&POD_TEMPLATE_SPEC)),
    (8, "ttlSecondsAfterFinished", Optional, I32),
    (9, "completionMode", Optional, Str),
    (10, "suspend", Optional, Bool),
    (14, "podReplacementPolicy", Optional, Str),
    (15, "managedBy", Optional, Str),
});

message!(JOB_STATUS = "k8s.io.api.batch.v1.JobStatus" {
    (1, "conditions", Repeated, Msg(&JOB_CONDITION)),
    (2, "startTime", Optional, Time),
    (3, "completionTime", Optional, Time),
    (4, "active", OmitEmpty, I32),
    (5, "succeeded", OmitEmpty, I32),
    (6, "failed", OmitEmpty, I32),
    (11, "terminating", Optional, I32),
    (7, "completedIndexes", OmitEmpty, Str),
    (10, "failedIndexes", Optional, Str),
    (8, "uncountedTerminatedPods", Optional, Msg(&UNCOUNTED_TERMINATED_PODS)),
    (9, "ready", Optional, I32),
});

message!(JOB_CONDITION = "k8s.io.api.batch.v1.JobCondition" {
    (1, "type", Required, Str),
    (2, "status", Required, Str),
    (3, "lastProbeTime", Required, Time),
    (4, "lastTransitionTime", Required, Time),
    (5, "reason", OmitEmpty, Str),
    (6, "message", OmitEmpty, Str),
});

message!(UNCOUNTED_TERMINATED_PODS = "k8s.io.api.batch.v1.UncountedTerminatedPods" {
    (1, "succeeded", Repeated, Str),
    (2, "failed", Repeated, Str),
});

message!(POD_FAILURE_POLICY = "k8s.io.api.batch.v1.PodFailurePolicy" {
    (1, "rules", Repeated, Msg(&POD_FAILURE_POLICY_RULE)),
});

message!(POD_FAILURE_POLICY_RULE = "k8s.io.api.batch.v1.PodFailurePolicyRule" {
    (1, "action", Required, Str),
    (2, "onExitCodes", Optional, Msg(&POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT)),
    (3, "onPodConditions", Repeated, Msg(&POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN)),
});

message!(POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT = "k8s.io.api.batch.v1.PodFailurePolicyOnExitCodesRequirement" {
    (1, "containerName", Optional, Str),
    (2, "operator", Required, Str),
    (3, "values", Repeated, I32),
});

message!(POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN = "k8s.io.api.batch.v1.PodFailurePolicyOnPodConditionsPattern" {
    (1, "type", Required, Str),
    (2, "status", Required, Str),
});

message!(SUCCESS_POLICY = "k8s.io.api.batch.v1.SuccessPolicy" {
    (1, "rules", Repeated, Msg(&SUCCESS_POLICY_RULE)),
});

message!(SUCCESS_POLICY_RULE = "k8s.io.api.batch.v1.SuccessPolicyRule" {
    (1, "succeededIndexes", Optional, Str),
    (2, "succeededCount", Optional, I32),
});

message!(CRON_JOB = "k8s.io.api.batch.v1.CronJob" {
    (1, "metadata", Required, Msg(&OBJECT_META)),
    (2, "spec", Required, Msg(&CRON_JOB_SPEC)),
    (3, "status", Required, Msg(&CRON_JOB_STATUS)),
});

message!(CRON_JOB_SPEC = "k8s.io.api.batch.v1.CronJobSpec" {
    (1, "schedule", Required, Str),
    (8, "timeZone", Optional, Str),
    (2, "startingDeadlineSeconds", Optional, I64),
    (3, "concurrencyPolicy", OmitEmpty, Str),
    (4, "suspend", Optional, Bool),
    (5, "jobTemplate", Required, Msg(&JOB_TEMPLATE_SPEC)),
    (6, "successfulJobsHistoryLimit", Optional, I32),
    (7, "failedJobsHistoryLimit", Optional, I32),
});

message!(CRON_JOB_STATUS = "k8s.io.api.batch.v1.CronJobStatus" {
    (1, "active", Repeated, Msg(&OBJECT_REFERENCE)),
    (4, "lastScheduleTime", Optional, Time),
    (5, "lastSuccessfulTime", Optional, Time),
});

message!(JOB_TEMPLATE_SPEC = "k8s.io.api.batch.v1.JobTemplateSpec" {
    (1, "metadata", Required, Msg(&OBJECT_META)),
    (2, "spec", Required, Msg(&JOB_SPEC)),
});

// --- meta/v1 ---

message!(OBJECT_META = "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta" {
    (1, "name", OmitEmpty, Str),
    (2, "generateName", OmitEmpty, Str),
    (3, "namespace", OmitEmpty, Str),
    (4, "selfLink", OmitEmpty, Str),
    (5, "uid", OmitEmpty, Str),
    (6, "resourceVersion", OmitEmpty, Str),
    (7, "generation", OmitEmpty, I64),
    (8, "creationTimestamp", Required, Time),
    (9, "deletionTimestamp", Optional, Time),
    (10, "deletionGracePeriodSeconds", Optional, I64),
    (11, "labels", Map, Str),
    (12, "annotations", Map, Str),
    (13, "ownerReferences", Repeated, Msg(&OWNER_REFERENCE)),
    (14, "finalizers", Repeated, Str),
    (17, "managedFields", Repeated, Msg(&MANAGED_FIELDS_ENTRY)),
});

message!(OWNER_REFERENCE = "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference" {
    (5, "apiVersion", Required, Str),
    (1, "kind", Required, Str),
    (3, "name", Required, Str),
    (4, "uid", Required, Str),
    (6, "controller", Optional, Bool),
    (7, "blockOwnerDeletion", Optional, Bool),
});

message!(MANAGED_FIELDS_ENTRY = "k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry" {
    (1, "manager", OmitEmpty, Str),
    (2, "operation", OmitEmpty, Str),
    (3, "apiVersion", OmitEmpty, Str),
    (4, "time", Optional, Time),
    (6, "fieldsType", OmitEmpty, Str),
    (7, "fieldsV1", Optional, FieldsV1),
    (8, "subresource", OmitEmpty, Str),
});

message!(LABEL_SELECTOR = "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector" {
    (1, "matchLabels", Map, Str),
    (2, "matchExpressions", Repeated, Msg(&LABEL_SELECTOR_REQUIREMENT)),
});

message!(LABEL_SELECTOR_REQUIREMENT = "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement" {
    (1, "key", Required, Str),
    (2, "operator", Required, Str),
    (3, "values", Repeated, Str),
});

// --- core/v1 ---

message!(POD_TEMPLATE_SPEC = "k8s.io.api.core.v1.PodTemplateSpec" {
    (1, "metadata", Required, Msg(&OBJECT_META)),
    (2, "spec", Required, Msg(&POD_SPEC)),
});

message!(POD_SPEC = "k8s.io.api.core.v1.PodSpec" {
    (1, "volumes", Repeated, Msg(&VOLUME)),
    (20, "initContainers", Repeated, Msg(&CONTAINER)),
    (2, "containers", Repeated, Msg(&CONTAINER)),
    (34, "ephemeralContainers", Repeated, Unsupported("ephemeral containers")),
    (3, "restartPolicy", OmitEmpty, Str),
    (4, "terminationGracePeriodSeconds", Optional, I64),
    (5, "activeDeadlineSeconds", Optional, I64),
    (6, "dnsPolicy", OmitEmpty, Str),
    (7, "nodeSelector", Map, Str),
    (8, "serviceAccountName", OmitEmpty, Str),
    (9, "serviceAccount", OmitEmpty, Str),
    (21, "automountServiceAccountToken", Optional, Bool),
    (10, "nodeName", OmitEmpty, Str),
    (11, "hostNetwork", OmitEmpty, Bool),
    (12, "hostPID", OmitEmpty, Bool),
    (13, "hostIPC", OmitEmpty, Bool),
    (27, "shareProcessNamespace", Optional, Bool),
    (14, "securityContext", Optional, Msg(&POD_SECURITY_CONTEXT)),
    (15, "imagePullSecrets", Repeated, Msg(&LOCAL_OBJECT_REFERENCE)),
    (16, "hostname", OmitEmpty, Str),
    (17, "subdomain", OmitEmpty, Str),
    (18, "affinity", Optional, Msg(&AFFINITY)),
    (19, "schedulerName", OmitEmpty, Str),
    (22, "tolerations", Repeated, Msg(&TOLERATION)),
    (23, "hostAliases", Repeated, Msg(&HOST_ALIAS)),
    (24, "priorityClassName", OmitEmpty, Str),
    (25, "priority", Optional, I32),
    (26, "dnsConfig", Optional, Msg(&POD_DNS_CONFIG)),
    (28, "readinessGates", Repeated, Msg(&POD_READINESS_GATE)),
    (29, "runtimeClassName", Optional, Str),
    (30, "enableServiceLinks", Optional, Bool),
    (31, "preemptionPolicy", Optional, Str),
    (32, "overhead", Map, Quantity),
    (33, "topologySpreadConstraints", Repeated, Msg(&TOPOLOGY_SPREAD_CONSTRAINT)),
    (35, "setHostnameAsFQDN", Optional, Bool),
    (36, "os", Optional, Msg(&POD_OS)),
    (37, "hostUsers", Optional, Bool),
    (38, "schedulingGates", Repeated, Msg(&POD_SCHEDULING_GATE)),
    (39, "resourceClaims", Repeated, Msg(&POD_RESOURCE_CLAIM)),
    (40, "resources", Optional, Msg(&RESOURCE_REQUIREMENTS)),
});

message!(CONTAINER = "k8s.io.api.core.v1.Container" {
    (1, "name", Required, Str),
    (2, "image", OmitEmpty, Str),
    (3, "command", Repeated, Str),
    (4, "args", Repeated, Str),
    (5, "workingDir", OmitEmpty, Str),
    (6, "ports", Repeated, Msg(&CONTAINER_PORT)),
    (19, "envFrom", Repeated, Msg(&ENV_FROM_SOURCE)),
    (7, "env", Repeated, Msg(&ENV_VAR)),
    (8, "resources", Required, Msg(&RESOURCE_REQUIREMENTS)),
    (23, "resizePolicy", Repeated, Msg(&CONTAINER_RESIZE_POLICY)),
    (24, "restartPolicy", Optional, Str),
    (9, "volumeMounts", Repeated, Msg(&VOLUME_MOUNT)),
    (21, "volumeDevices", Repeated, Msg(&VOLUME_DEVICE)),
    (10, "livenessProbe", Optional, Msg(&PROBE)),
    (11, "readinessProbe", Optional, Msg(&PROBE)),
    (22, "startupProbe", Optional, Msg(&PROBE)),
    (12, "lifecycle", Optional, Msg(&LIFECYCLE)),
    (13, "terminationMessagePath", OmitEmpty, Str),
    (20, "terminationMessagePolicy", OmitEmpty, Str),
    (14, "imagePullPolicy", OmitEmpty, Str),
    (15, "securityContext", Optional, Msg(&SECURITY_CONTEXT)),
    (16, "stdin", OmitEmpty, Bool),
    (17, "stdinOnce", OmitEmpty, Bool),
    (18, "tty", OmitEmpty, Bool),
});

message!(CONTAINER_PORT = "k8s.io.api.core.v1.ContainerPort" {
    (1, "name", OmitEmpty, Str),
    (2, "hostPort", OmitEmpty, I32),
    (3, "containerPort", Required, I32),
    (4, "protocol", OmitEmpty, Str),
    (5, "hostIP", OmitEmpty, Str),
});

message!(ENV_VAR = "k8s.io.api.core.v1.EnvVar" {
    (1, "name", Required, Str),
    (2, "value", OmitEmpty, Str),
    (3, "valueFrom", Optional, Msg(&ENV_VAR_SOURCE)),
});

message!(ENV_VAR_SOURCE = "k8s.io.api.core.v1.EnvVarSource" {
    (1, "fieldRef", Optional, Msg(&OBJECT_FIELD_SELECTOR)),
    (2, "resourceFieldRef", Optional, Msg(&RESOURCE_FIELD_SELECTOR)),
    (3, "configMapKeyRef", Optional, Msg(&CONFIG_MAP_KEY_SELECTOR)),
    (4, "secretKeyRef", Optional, Msg(&SECRET_KEY_SELECTOR)),
});

message!(OBJECT_FIELD_SELECTOR = "k8s.io.api.core.v1.ObjectFieldSelector" {
    (1, "apiVersion", OmitEmpty, Str),
    (2, "fieldPath", Required, Str),
});

message!(RESOURCE_FIELD_SELECTOR = "k8s.io.api.core.v1.ResourceFieldSelector" {
    (1, "containerName", OmitEmpty, Str),
    (2, "resource", Required, Str),
    (3, "divisor", Required, Quantity),
});

message!(CONFIG_MAP_KEY_SELECTOR = "k8s.io.api.core.v1.ConfigMapKeySelector" {
    (1, "localObjectReference", Inline, Msg(&LOCAL_OBJECT_REFERENCE)),
    (2, "key", Required, Str),
    (3, "optional", Optional, Bool),
});

message!(SECRET_KEY_SELECTOR = "k8s.io.api.core.v1.SecretKeySelector" {
    (1, "localObjectReference", Inline, Msg(&LOCAL_OBJECT_REFERENCE)),
    (2, "key", Required, Str),
    (3, "optional", Optional, Bool),
});

message!(ENV_FROM_SOURCE = "k8s.io.api.core.v1.EnvFromSource" {
    (1, "prefix", OmitEmpty, Str),
    (2, "configMapRef", Optional, Msg(&CONFIG_MAP_ENV_SOURCE)),
    (3, "secretRef", Optional, Msg(&SECRET_ENV_SOURCE)),
});

message!(CONFIG_MAP_ENV_SOURCE = "k8s.io.api.core.v1.ConfigMapEnvSource" {
    (1, "localObjectReference", Inline, Msg(&LOCAL_OBJECT_REFERENCE)),
    (2, "optional", Optional, Bool),
});

message!(SECRET_ENV_SOURCE = "k8s.io.api.core.v1.SecretEnvSource" {
    (1, "localObjectReference", Inline, Msg(&LOCAL_OBJECT_REFERENCE)),
    (2, "optional", Optional, Bool),
});

message!(LOCAL_OBJECT_REFERENCE = "k8s.io.api.core.v1.LocalObjectReference" {
    (1, "name", OmitEmpty, Str),
});

message!(RESOURCE_REQUIREMENTS = "k8s.io.api.core.v1.ResourceRequirements" {
    (1, "limits", Map, Quantity),
    (2, "requests", Map, Quantity),
    (3, "claims", Repeated, Msg(&RESOURCE_CLAIM)),
});

message!(RESOURCE_CLAIM = "k8s.io.api.core.v1.ResourceClaim" {
    (1, "name", Required, Str),
    (2, "request", OmitEmpty, Str),
});

message!(CONTAINER_RESIZE_POLICY = "k8s.io.api.core.v1.ContainerResizePolicy" {
    (1, "resourceName", Required, Str),
    (2, "restartPolicy", Required, Str),
});

message!(VOLUME = "k8s.io.api.core.v1.Volume" {
    (1, "name", Required, Str),
    (2, "volumeSource", Inline, Msg(&VOLUME_SOURCE)),
});

message!(VOLUME_SOURCE = "k8s.io.api.core.v1.VolumeSource" {
    (1, "hostPath", Optional, Unsupported("hostPath volumes")),
    (2, "emptyDir", Optional, Msg(&EMPTY_DIR_VOLUME_SOURCE)),
    (6, "secret", Optional, Unsupported("secret volumes")),
    (19, "configMap", Optional, Unsupported("configMap volumes")),
    (10, "persistentVolumeClaim", Optional, Unsupported("persistentVolumeClaim volumes")),
    (26, "projected", Optional, Unsupported("projected volumes")),
    (29, "ephemeral", Optional, Unsupported("ephemeral volumes")),
});

message!(EMPTY_DIR_VOLUME_SOURCE = "k8s.io.api.core.v1.EmptyDirVolumeSource" {
    (1, "medium", OmitEmpty, Str),
    (2, "sizeLimit", Optional, Quantity),
});

message!(VOLUME_MOUNT = "k8s.io.api.core.v1.VolumeMount" {
    (1, "name", Required, Str),
    (2, "readOnly", OmitEmpty, Bool),
    (7, "recursiveReadOnly", Optional, Str),
    (3, "mountPath", Required, Str),
    (4, "subPath", OmitEmpty, Str),
    (5, "mountPropagation", Optional, Str),
    (6, "subPathExpr", OmitEmpty, Str),
});

message!(VOLUME_DEVICE = "k8s.io.api.core.v1.VolumeDevice" {
    (1, "name", Required, Str),
    (2, "devicePath", Required, Str),
});

message!(OBJECT_REFERENCE = "k8s.io.api.core.v1.ObjectReference" {
    (1, "kind", OmitEmpty, Str),
    (2, "namespace", OmitEmpty, Str),
    (3, "name", OmitEmpty, Str),
    (4, "uid", OmitEmpty, Str),
    (5, "apiVersion", OmitEmpty, Str),
    (6, "resourceVersion", OmitEmpty, Str),
    (7, "fieldPath", OmitEmpty, Str),
});

message!(POD_SECURITY_CONTEXT = "k8s.io.api.core.v1.PodSecurityContext" {
    (1, "seLinuxOptions", Optional, Msg(&SE_LINUX_OPTIONS)),
    (8, "windowsOptions", Optional, Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
    (2, "runAsUser", Optional, I64),
    (6, "runAsGroup", Optional, I64),
    (3, "runAsNonRoot", Optional, Bool),
    (4, "supplementalGroups", Repeated, I64),
    (12, "supplementalGroupsPolicy", Optional, Str),
    (5, "fsGroup", Optional, I64),
    (7, "sysctls", Repeated, Msg(&SYSCTL)),
    (9, "fsGroupChangePolicy", Optional, Str),
    (10, "seccompProfile", Optional, Msg(&SECCOMP_PROFILE)),
    (11, "appArmorProfile", Optional, Msg(&APP_ARMOR_PROFILE)),
    (13, "seLinuxChangePolicy", Optional, Str),
});

message!(AFFINITY = "k8s.io.api.core.v1.Affinity" {
    (1, "nodeAffinity", Optional, Msg(&NODE_AFFINITY)),
    (2, "podAffinity", Optional, Msg(&POD_AFFINITY)),
    (3, "podAntiAffinity", Optional, Msg(&POD_ANTI_AFFINITY)),
});

message!(TOLERATION = "k8s.io.api.core.v1.Toleration" {
    (1, "key", OmitEmpty, Str),
    (2, "operator", OmitEmpty, Str),
    (3, "value", OmitEmpty, Str),
    (4, "effect", OmitEmpty, Str),
    (5, "tolerationSeconds", Optional, I64),
});

message!(HOST_ALIAS = "k8s.io.api.core.v1.HostAlias" {
    (1, "ip", Required, Str),
    (2, "hostnames", Repeated, Str),
});

message!(POD_DNS_CONFIG = "k8s.io.api.core.v1.PodDNSConfig" {
    (1, "nameservers", Repeated, Str),
    (2, "searches", Repeated, Str),
    (3, "options", Repeated, Msg(&POD_DNS_CONFIG_OPTION)),
});

message!(POD_READINESS_GATE = "k8s.io.api.core.v1.PodReadinessGate" {
    (1, "conditionType", Required, Str),
});

message!(TOPOLOGY_SPREAD_CONSTRAINT = "k8s.io.api.core.v1.TopologySpreadConstraint" {
    (1, "maxSkew", Required, I32),
    (2, "topologyKey", Required, Str),
    (3, "whenUnsatisfiable", Required, Str),
    (4, "labelSelector", Optional, Msg(&LABEL_SELECTOR)),
    (5, "minDomains", Optional, I32),
    (6, "nodeAffinityPolicy", Optional, Str),
    (7, "nodeTaintsPolicy", Optional, Str),
    (8, "matchLabelKeys", Repeated, Str),
});

message!(POD_OS = "k8s.io.api.core.v1.PodOS" {
    (1, "name", Required, Str),
});

message!(POD_SCHEDULING_GATE = "k8s.io.api.core.v1.PodSchedulingGate" {
    (1, "name", Required, Str),
});

message!(POD_RESOURCE_CLAIM = "k8s.io.api.core.v1.PodResourceClaim" {
    (1, "name", Required, Str),
    (3, "resourceClaimName", Optional, Str),
    (4, "resourceClaimTemplateName", Optional, Str),
});

message!(PROBE = "k8s.io.api.core.v1.Probe" {
    (1, "handler", Inline, Msg(&PROBE_HANDLER)),
    (2, "initialDelaySeconds", OmitEmpty, I32),
    (3, "timeoutSeconds", OmitEmpty, I32),
    (4, "periodSeconds", OmitEmpty, I32),
    (5, "successThreshold", OmitEmpty, I32),
    (6, "failureThreshold", OmitEmpty, I32),
    (7, "terminationGracePeriodSeconds", Optional, I64),
});

message!(LIFECYCLE = "k8s.io.api.core.v1.Lifecycle" {
    (1, "postStart", Optional, Msg(&LIFECYCLE_HANDLER)),
    (2, "preStop", Optional, Msg(&LIFECYCLE_HANDLER)),
});

message!(SECURITY_CONTEXT = "k8s.io.api.core.v1.SecurityContext" {
    (1, "capabilities", Optional, Msg(&CAPABILITIES)),
    (2, "privileged", Optional, Bool),
    (3, "seLinuxOptions", Optional, Msg(&SE_LINUX_OPTIONS)),
    (10, "windowsOptions", Optional, Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
    (4, "runAsUser", Optional, I64),
    (8, "runAsGroup", Optional, I64),
    (5, "runAsNonRoot", Optional, Bool),
    (6, "readOnlyRootFilesystem", Optional, Bool),
    (7, "allowPrivilegeEscalation", Optional, Bool),
    (9, "procMount", Optional, Str),
    (11, "seccompProfile", Optional, Msg(&SECCOMP_PROFILE)),
    (12, "appArmorProfile", Optional, Msg(&APP_ARMOR_PROFILE)),
});

message!(SE_LINUX_OPTIONS = "k8s.io.api.core.v1.SELinuxOptions" {
    (1, "user", OmitEmpty, Str),
    (2, "role", OmitEmpty, Str),
    (3, "type", OmitEmpty, Str),
    (4, "level", OmitEmpty, Str),
});

message!(WINDOWS_SECURITY_CONTEXT_OPTIONS = "k8s.io.api.core.v1.WindowsSecurityContextOptions" {
    (1, "gmsaCredentialSpecName", Optional, Str),
    (2, "gmsaCredentialSpec", Optional, Str),
    (3, "runAsUserName", Optional, Str),
    (4, "hostProcess", Optional, Bool),
});

message!(SYSCTL = "k8s.io.api.core.v1.Sysctl" {
    (1, "name", Required, Str),
    (2, "value", Required, Str),
});

message!(SECCOMP_PROFILE = "k8s.io.api.core.v1.SeccompProfile" {
    (1, "type", Required, Str),
    (2, "localhostProfile", Optional, Str),
});

message!(APP_ARMOR_PROFILE = "k8s.io.api.core.v1.AppArmorProfile" {
    (1, "type", Required, Str),
    (2, "localhostProfile", Optional, Str),
});

message!(NODE_AFFINITY = "k8s.io.api.core.v1.NodeAffinity" {
    (1, "requiredDuringSchedulingIgnoredDuringExecution", Optional, Msg(&NODE_SELECTOR)),
    (2, "preferredDuringSchedulingIgnoredDuringExecution", Repeated, Msg(&PREFERRED_SCHEDULING_TERM)),
});

message!(POD_AFFINITY = "k8s.io.api.core.v1.PodAffinity" {
    (1, "requiredDuringSchedulingIgnoredDuringExecution", Repeated, Msg(&POD_AFFINITY_TERM)),
    (2, "preferredDuringSchedulingIgnoredDuringExecution", Repeated, Msg(&WEIGHTED_POD_AFFINITY_TERM)),
});

message!(POD_ANTI_AFFINITY = "k8s.io.api.core.v1.PodAntiAffinity" {
    (1, "requiredDuringSchedulingIgnoredDuringExecution", Repeated, Msg(&POD_AFFINITY_TERM)),
    (2, "preferredDuringSchedulingIgnoredDuringExecution", Repeated, Msg(&WEIGHTED_POD_AFFINITY_TERM)),
});

message!(POD_DNS_CONFIG_OPTION = "k8s.io.api.core.v1.PodDNSConfigOption" {
    (1, "name", OmitEmpty, Str),
    (2, "value", Optional, Str),
});

message!(PROBE_HANDLER = "k8s.io.api.core.v1.ProbeHandler" {
    (1, "exec", Optional, Msg(&EXEC_ACTION)),
    (2, "httpGet", Optional, Msg(&HTTP_GET_ACTION)),
    (3, "tcpSocket", Optional, Msg(&TCP_SOCKET_ACTION)),
    (4, "grpc", Optional, Msg(&GRPC_ACTION)),
});

message!(LIFECYCLE_HANDLER = "k8s.io.api.core.v1.LifecycleHandler" {
    (1, "exec", Optional, Msg(&EXEC_ACTION)),
    (2, "httpGet", Optional, Msg(&HTTP_GET_ACTION)),
    (3, "tcpSocket", Optional, Msg(&TCP_SOCKET_ACTION)),
    (4, "sleep", Optional, Msg(&SLEEP_ACTION)),
});

message!(CAPABILITIES = "k8s.io.api.core.v1.Capabilities" {
    (1, "add", Repeated, Str),
    (2, "drop", Repeated, Str),
});

message!(NODE_SELECTOR = "k8s.io.api.core.v1.NodeSelector" {
    (1, "nodeSelectorTerms", Repeated, Msg(&NODE_SELECTOR_TERM)),
});

message!(PREFERRED_SCHEDULING_TERM = "k8s.io.api.core.v1.PreferredSchedulingTerm" {
    (1, "weight", Required, I32),
    (2, "preference", Required, Msg(&NODE_SELECTOR_TERM)),
});

message!(POD_AFFINITY_TERM = "k8s.io.api.core.v1.PodAffinityTerm" {
    (1, "labelSelector", Optional, Msg(&LABEL_SELECTOR)),
    (2, "namespaces", Repeated, Str),
    (3, "topologyKey", Required, Str),
    (4, "namespaceSelector", Optional, Msg(&LABEL_SELECTOR)),
    (5, "matchLabelKeys", Repeated, Str),
    (6, "mismatchLabelKeys", Repeated, Str),
});

message!(WEIGHTED_POD_AFFINITY_TERM = "k8s.io.api.core.v1.WeightedPodAffinityTerm" {
    (1, "weight", Required, I32),
    (2, "podAffinityTerm", Required, Msg(&POD_AFFINITY_TERM)),
});

message!(EXEC_ACTION = "k8s.io.api.core.v1.ExecAction" {
    (1, "command", Repeated, Str),
});

message!(HTTP_GET_ACTION = "k8s.io.api.core.v1.HTTPGetAction" {
    (1, "path", OmitEmpty, Str),
    (2, "port", Required, IntOrString),
    (3, "host", OmitEmpty, Str),
    (4, "scheme", OmitEmpty, Str),
    (5, "httpHeaders", Repeated, Msg(&HTTP_HEADER)),
});

message!(TCP_SOCKET_ACTION = "k8s.io.api.core.v1.TCPSocketAction" {
    (1, "port", Required, IntOrString),
    (2, "host", OmitEmpty, Str),
});

message!(GRPC_ACTION = "k8s.io.api.core.v1.GRPCAction" {
    (1, "port", Required, I32),
    (2, "service", Optional, Str),
});

message!(SLEEP_ACTION = "k8s.io.api.core.v1.SleepAction" {
    (1, "seconds", Required, I64),
});

message!(NODE_SELECTOR_TERM = "k8s.io.api.core.v1.NodeSelectorTerm" {
    (1, "matchExpressions", Repeated, Msg(&NODE_SELECTOR_REQUIREMENT)),
    (2, "matchFields", Repeated, Msg(&NODE_SELECTOR_REQUIREMENT)),
});

message!(HTTP_HEADER = "k8s.io.api.core.v1.HTTPHeader" {
    (1, "name", Required, Str),
    (2, "value", Required, Str),
});

message!(NODE_SELECTOR_REQUIREMENT = "k8s.io.api.core.v1.NodeSelectorRequirement" {
    (1, "key", Required, Str),
    (2, "operator", Required, Str),
    (3, "values", Repeated, Str),
});

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message reachable from `roots`, each once.
    fn reachable(roots: &[&'static Message]) -> Vec<&'static Message> {
        let mut seen: Vec<&'static Message> = Vec::new();
        let mut stack = roots.to_vec();
        while let Some(message) = stack.pop() {
            if seen.iter().any(|m| std::ptr::eq(*m, message)) {
                continue;
            }
            seen.push(message);
            stack.extend(message.fields.iter().filter_map(|f| match f.kind {
                Kind::Msg(inner) => Some(inner),
                _ => None,
            }));
        }
        seen
    }

    #[test]
    fn the_table_is_consistent() {
        let messages = reachable(&[&JOB, &CRON_JOB]);
        assert_eq!(messages.len(), 80, "the messages reachable from Job and CronJob");
        for message in messages {
            let mut numbers: Vec<u32> = message.fields.iter().map(|f| f.number).collect();
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(numbers.len(), message.fields.len(), "{}: a field number twice", message.name);
            let mut names: Vec<&str> = message.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), message.fields.len(), "{}: a JSON name twice", message.name);
            for f in message.fields {
                let what = format!("{} field {} ({})", message.name, f.number, f.name);
                assert!((1..1 << 29).contains(&f.number), "{what}: number out of range");
                let scalar = matches!(f.kind, Kind::Str | Kind::Bool | Kind::I32 | Kind::I64);
                match f.shape {
                    Shape::Inline => {
                        assert!(matches!(f.kind, Kind::Msg(_)), "{what}: only messages are inlined")
                    }
                    // `omitempty` never leaves out a struct: those are `Required`.
                    Shape::OmitEmpty => assert!(scalar, "{what}: omitempty on a non-scalar"),
                    Shape::Map => {
                        assert!(matches!(f.kind, Kind::Str | Kind::Quantity), "{what}: a map of {:?}", f.kind)
                    }
                    Shape::Optional | Shape::Required | Shape::Repeated => {}
                }
            }
        }
    }

    #[test]
    fn inlined_fields_do_not_collide_with_their_parents() {
        for message in reachable(&[&JOB, &CRON_JOB]) {
            for f in message.fields.iter().filter(|f| f.shape == Shape::Inline) {
                let Kind::Msg(inner) = f.kind else { continue };
                for g in inner.fields {
                    let clash = message.fields.iter().any(|p| p.shape != Shape::Inline && p.name == g.name);
                    assert!(!clash, "{}: inlined {} repeats {}", message.name, inner.name, g.name);
                }
            }
        }
    }
}
