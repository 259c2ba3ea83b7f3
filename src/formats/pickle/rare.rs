//! The opcodes off the hot path of the abstract unpickler: protocol-0 text operands, imports
//! (GLOBAL, INST), OBJ, NEWOBJ_EX, persistent ids, extension codes, and everything rare.

use super::cparse::{self, TextInt};
use super::ops::{Arg, Instr, Op};
use super::value::{CallKind, Dropped, Node, Raw, RawKind, Value};
use super::vm::{Flow, Halt, Machine};

impl<'a> Machine<'a, '_, '_> {
    /// Protocol-0 text opcodes, imports, and everything rare.
    #[inline(never)]
    pub(super) fn step_rare(&mut self, instr: Instr<'a>) -> Result<Flow, Halt> {
        let pos = instr.pos;
        let int_arg = match instr.arg {
            Arg::Int(i) => i,
            _ => 0,
        };
        let bytes_arg: &'a [u8] = match instr.arg {
            Arg::Bytes(b) | Arg::Line(b) => b,
            _ => &[],
        };
        match instr.op {
            Op::Proto if !(0..=5).contains(&int_arg) => {
                return Err(Halt::malformed(
                    pos,
                    format!("unsupported pickle protocol {int_arg}"),
                ));
            }
            Op::PopMark => {
                let start = self.take_mark(pos, instr.op);
                self.stack.truncate(start);
            }
            Op::Int | Op::Long => {
                let parsed = if instr.op == Op::Int {
                    cparse::int_operand(bytes_arg)
                } else {
                    cparse::long_operand(bytes_arg)
                };
                let value = match parsed {
                    Some(TextInt::Bool(b)) => Value::Bool(b),
                    Some(TextInt::Small(i)) => Value::Int(i),
                    Some(TextInt::Big(b)) => Value::Raw(Raw {
                        bytes: b,
                        kind: RawKind::LongDecimal,
                    }),
                    None => {
                        return Err(Halt::malformed(
                            pos,
                            format!("{} argument is not an integer", instr.op.name()),
                        ));
                    }
                };
                self.push(value, pos)?;
            }
            Op::Float => match cparse::float_operand(bytes_arg) {
                Some(f) => self.push(Value::Float(f), pos)?,
                None => {
                    return Err(Halt::malformed(
                        pos,
                        "FLOAT argument is not a number".to_owned(),
                    ));
                }
            },
            Op::String => self.push_raw(bytes_arg, RawKind::Escaped, pos)?,
            Op::Unicode => self.push_raw(bytes_arg, RawKind::RawUnicodeEscape, pos)?,
            Op::ByteArray8 => self.push_raw(bytes_arg, RawKind::ByteArray, pos)?,
            Op::NextBuffer => self.push(Value::Buffer, pos)?,
            Op::ReadonlyBuffer => {
                self.peek(pos);
            }
            Op::EmptySet => {
                let v = self.container(Dropped::Set, &[], pos)?;
                self.push(v, pos)?;
            }
            Op::FrozenSet | Op::Dict => {
                let start = self.take_mark(pos, instr.op);
                let make = if instr.op == Op::Dict {
                    Dropped::Dict
                } else {
                    Dropped::FrozenSet
                };
                if instr.op == Op::Dict && self.stack.len().saturating_sub(start) % 2 == 1 {
                    self.malformed(pos, "DICT with an odd number of items");
                    self.stack.pop();
                }
                let v = self.seq_from(start, pos, make)?;
                self.push(v, pos)?;
            }
            Op::Global | Op::Inst => {
                let Arg::Lines(module, name) = instr.arg else {
                    return Ok(Flow::Next);
                };
                let (Ok(module), Ok(name)) =
                    (std::str::from_utf8(module), std::str::from_utf8(name))
                else {
                    return Err(Halt::malformed(
                        pos,
                        format!(
                            "{} names a module or global that is not UTF-8",
                            instr.op.name()
                        ),
                    ));
                };
                let global = self.import(module, name, pos)?;
                if instr.op == Op::Global {
                    self.push(global, pos)?;
                } else {
                    let start = self.take_mark(pos, instr.op);
                    let args = self.seq_from(start, pos, Dropped::Tuple)?;
                    self.call(CallKind::Instantiate, global, args, Value::None, pos)?;
                }
            }
            Op::Obj => {
                let start = self.take_mark(pos, instr.op);
                if start >= self.stack.len() {
                    self.malformed(pos, "OBJ without a class");
                    self.push(Value::Unknown, pos)?;
                } else {
                    let cls = self.stack.get(start).copied().unwrap_or(Value::Unknown);
                    let args = self.seq_from(start + 1, pos, Dropped::Tuple)?;
                    self.stack.truncate(start);
                    self.call(CallKind::Instantiate, cls, args, Value::None, pos)?;
                }
            }
            Op::NewObjEx => {
                let kwargs = self.pop(pos);
                let args = self.pop(pos);
                let cls = self.pop(pos);
                self.call(CallKind::NewObjEx, cls, args, kwargs, pos)?;
            }
            Op::PersId => {
                let pid = Value::Raw(Raw {
                    bytes: bytes_arg,
                    kind: RawKind::Latin1,
                });
                let v = self.alloc(Node::PersId(pid), pos)?;
                self.push(v, pos)?;
            }
            Op::Ext1 | Op::Ext2 | Op::Ext4 => {
                let v = self.extension(instr.op, int_arg, pos)?;
                self.push(v, pos)?;
            }
            Op::Put | Op::Get => match (instr.op, cparse::memo_index(bytes_arg)) {
                (Op::Put, Some(Some(index))) => self.memo_put(index, pos)?,
                (Op::Get, Some(Some(index))) => {
                    let value = match self.memo.get(index) {
                        Some(v) => v,
                        None => self.missing_memo(pos, instr.op, &index.to_string()),
                    };
                    self.note_use(value);
                    self.push(value, pos)?;
                }
                (Op::Get, _) => {
                    let shown = String::from_utf8_lossy(bytes_arg).into_owned();
                    let value = self.missing_memo(pos, instr.op, &shown);
                    self.push(value, pos)?;
                }
                _ => {
                    return Err(Halt::malformed(
                        pos,
                        "PUT has an invalid memo index".to_owned(),
                    ));
                }
            },
            // Every other opcode is handled by `step`; its operand shape is fixed by the reader.
            _ => {}
        }
        Ok(Flow::Next)
    }
}
