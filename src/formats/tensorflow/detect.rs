//! Recognising TensorFlow protobufs by structure: every top-level field must be one the message
//! defines, with its wire type, the fields must cover the data exactly, and the first nested
//! message that tells the kinds apart must decode the same way. A GraphDef's field 1 is a
//! length-delimited NodeDef while ONNX's `ModelProto` field 1 is a varint, so the two are never
//! confused.

use crate::bytes::varint;

const VARINT: u8 = 0;
const LEN: u8 = 2;

/// Which TensorFlow message the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `saved_model.pb`.
    SavedModel,
    /// A `*.meta` MetaGraphDef.
    MetaGraph,
    /// A frozen GraphDef `.pb`.
    GraphDef,
    /// Keras's `keras_metadata.pb` (SavedMetadata).
    KerasMetadata,
    /// A checkpoint's `variables.index` (a LevelDB-format table of tensor names and offsets).
    VariablesIndex,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::SavedModel => "tensorflow SavedModel",
            Kind::MetaGraph => "tensorflow MetaGraphDef",
            Kind::GraphDef => "tensorflow GraphDef",
            Kind::KerasMetadata => "keras metadata",
            Kind::VariablesIndex => "tensorflow checkpoint index",
        }
    }
}

/// One top-level field: number, wire type, payload (for length-delimited fields).
struct Field<'a> {
    number: u64,
    wire: u8,
    payload: &'a [u8],
}

/// The top-level fields of `data` when it parses as protobuf with only the `allowed` (field,
/// wire type) pairs and covers the data exactly; at most `max` fields are read (`None` past
/// that is "not recognised").
fn fields<'a>(data: &'a [u8], allowed: &[(u64, u8)], max: usize) -> Option<Vec<Field<'a>>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        if out.len() >= max {
            return Some(out);
        }
        let (tag, next) = varint(data, at)?;
        let (number, wire) = (tag >> 3, (tag & 7) as u8);
        if !allowed.contains(&(number, wire)) {
            return None;
        }
        let (payload, end) = match wire {
            VARINT => {
                let (_, end) = varint(data, next)?;
                (&data[next..end], end)
            }
            LEN => {
                let (len, start) = varint(data, next)?;
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                (data.get(start..end)?, end)
            }
            _ => return None,
        };
        out.push(Field {
            number,
            wire,
            payload,
        });
        at = end;
    }
    Some(out)
}

const SAVED_MODEL: &[(u64, u8)] = &[(1, VARINT), (2, LEN)];
const META_GRAPH: &[(u64, u8)] = &[
    (1, LEN),
    (2, LEN),
    (3, LEN),
    (4, LEN),
    (5, LEN),
    (6, LEN),
    (7, LEN),
];
const GRAPH_DEF: &[(u64, u8)] = &[(1, LEN), (2, LEN), (3, VARINT), (4, LEN), (5, LEN)];
const NODE_DEF: &[(u64, u8)] = &[
    (1, LEN),
    (2, LEN),
    (3, LEN),
    (4, LEN),
    (5, LEN),
    (6, LEN),
    (7, LEN),
];
const SAVED_METADATA: &[(u64, u8)] = &[(1, LEN)];
const SAVED_OBJECT: &[(u64, u8)] = &[(2, VARINT), (3, LEN), (4, LEN), (5, LEN), (6, LEN)];
/// Top-level fields read to decide; the rest are checked by the full decode.
const SCAN: usize = 1 << 20;

/// The magic number that ends a LevelDB-format table (TensorFlow's `tensorflow/core/lib/io/
/// format.h` `kTableMagicNumber`), little-endian.
const TABLE_MAGIC: [u8; 8] = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];
/// A table footer: two block handles (varints, padded to 40 bytes) and the magic.
const FOOTER: usize = 48;

/// Which TensorFlow message `data` is, if any.
pub fn detect(data: &[u8]) -> Option<Kind> {
    if data.len() < 4 {
        return None;
    }
    if data.len() >= FOOTER && data[data.len() - 8..] == TABLE_MAGIC {
        return Some(Kind::VariablesIndex);
    }
    if let Some(top) = fields(data, SAVED_MODEL, SCAN)
        && top.iter().any(|f| f.number == 2)
        && top
            .iter()
            .filter(|f| f.number == 2)
            .all(|f| is_meta_graph(f.payload))
    {
        return Some(Kind::SavedModel);
    }
    // A GraphDef's first field is a NodeDef naming an op; a MetaGraphDef's field 1 (its meta
    // info) never is, so the GraphDef reading goes first.
    if is_graph_def(data) {
        return Some(Kind::GraphDef);
    }
    if is_meta_graph(data) {
        return Some(Kind::MetaGraph);
    }
    if let Some(top) = fields(data, SAVED_METADATA, SCAN)
        && let Some(first) = top.first()
        && let Some(object) = fields(first.payload, SAVED_OBJECT, 64)
        && object
            .iter()
            .any(|f| f.number == 5 && f.payload.first() == Some(&b'{'))
    {
        return Some(Kind::KerasMetadata);
    }
    None
}

/// A MetaGraphDef: its graph (field 2) is a GraphDef, or it has only a meta info def whose
/// strings decode.
fn is_meta_graph(data: &[u8]) -> bool {
    let Some(top) = fields(data, META_GRAPH, SCAN) else {
        return false;
    };
    match top.iter().find(|f| f.number == 2) {
        Some(graph) => graph.payload.is_empty() || is_graph_def(graph.payload),
        None => top.iter().any(|f| {
            f.number == 1
                && fields(
                    f.payload,
                    &[
                        (1, LEN),
                        (2, LEN),
                        (3, LEN),
                        (4, LEN),
                        (5, LEN),
                        (6, LEN),
                        (7, VARINT),
                        (8, LEN),
                    ],
                    64,
                )
                .is_some_and(|info| {
                    info.iter().any(|i| {
                        i.number == 5
                            && !i.payload.is_empty()
                            && i.payload.len() <= 64
                            && i.payload
                                .iter()
                                .all(|b| b.is_ascii_alphanumeric() || b".-+_".contains(b))
                    })
                })
        }),
    }
}

/// A GraphDef: nodes (field 1) whose first one is a NodeDef naming an op, or a function
/// library (field 2) alone.
fn is_graph_def(data: &[u8]) -> bool {
    let Some(top) = fields(data, GRAPH_DEF, SCAN) else {
        return false;
    };
    match top.iter().find(|f| f.number == 1) {
        Some(node) => is_node(node.payload),
        None => {
            top.iter().any(|f| f.number == 2 && f.wire == LEN) && top.iter().any(|f| f.number == 4)
        }
    }
}

fn is_node(data: &[u8]) -> bool {
    let Some(fs) = fields(data, NODE_DEF, 4096) else {
        return false;
    };
    let op = fs.iter().find(|f| f.number == 2);
    op.is_some_and(|op| {
        !op.payload.is_empty()
            && op.payload.len() <= 256
            && op
                .payload
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'>' || b == b'.')
    }) && fs
        .iter()
        .filter(|f| f.number == 1 || f.number == 3 || f.number == 4)
        .all(|f| std::str::from_utf8(f.payload).is_ok())
}
