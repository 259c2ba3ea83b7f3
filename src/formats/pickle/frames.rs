//! Protocol 4 frames as an unpickler reading from a file sees them.
//!
//! `pickle.loads` (and an unpickler over a peekable file with small frames) reads a stream's
//! bytes in order; FRAME only says how many of them to buffer. CPython's C unpickler reading
//! from a file that cannot peek (`io.BytesIO`, which is how `torch.load` reads `data.pkl` out of
//! a zip) buffers exactly the frame, and when an operand read with `read(n)` runs past the end
//! of that buffer it drops what is left of the buffer and reads the `n` bytes from the file,
//! which is already past the frame. A stream whose operand straddles a frame end therefore has
//! a second reading with other opcodes. Writers never produce one: CPython's picklers close
//! frames at opcode boundaries and write large operands outside frames.
//!
//! This module replays that reader over a stream and, when the two readings part, returns the
//! bytes in the order the file reader consumes them, to be analysed as a stream of its own.
//! The read calls per opcode follow `_pickle.c`: counted strings, integers, floats, memo
//! indices and FRAME lengths use `read(n)` (which jumps); BINBYTES, SHORT_BINBYTES, BINBYTES8
//! and BYTEARRAY8 payloads use `readinto`, which continues past the buffer without dropping
//! anything; text operands use `readline`, which drops an unterminated rest of the buffer and
//! reads a whole line from the file.

use std::ops::Range;

use crate::scan::deadline;

use super::ops::{self, Arg, Instr, Op};

/// The file reading of one stream, when it differs from the in-order reading.
pub(super) struct FileReading {
    /// Offset of the instruction whose operand runs past its frame.
    pub op_at: usize,
    pub op: Op,
    /// Bytes left in the frame that the file reader drops there.
    pub skipped: usize,
    /// The stream's bytes in the order the file reader consumes them, without FRAME opcodes;
    /// when that reading reaches STOP, followed by the rest of the data from where the file
    /// reader stopped (the next `pickle.load` on the same file starts there).
    pub bytes: Vec<u8>,
}

/// How the C unpickler reads an opcode's operand.
enum Operand {
    None,
    /// One `read(n)`.
    Fixed(usize),
    /// A length read with `read(width)`, then that many bytes with `read` or `readinto`.
    Counted {
        width: usize,
        signed: bool,
        readinto: bool,
    },
    /// This many `readline` calls.
    Lines(u8),
    /// An 8-byte length, then that many bytes read and the buffer rewound to their start.
    Frame,
}

fn operand(op: Op) -> Operand {
    match op {
        Op::Proto | Op::BinInt1 | Op::BinGet | Op::BinPut | Op::Ext1 => Operand::Fixed(1),
        Op::BinInt2 | Op::Ext2 => Operand::Fixed(2),
        Op::BinInt | Op::LongBinGet | Op::LongBinPut | Op::Ext4 => Operand::Fixed(4),
        Op::BinFloat => Operand::Fixed(8),
        Op::Frame => Operand::Frame,
        Op::ShortBinString | Op::ShortBinUnicode | Op::Long1 => Operand::Counted {
            width: 1,
            signed: false,
            readinto: false,
        },
        Op::ShortBinBytes => Operand::Counted {
            width: 1,
            signed: false,
            readinto: true,
        },
        Op::BinString | Op::Long4 => Operand::Counted {
            width: 4,
            signed: true,
            readinto: false,
        },
        Op::BinUnicode => Operand::Counted {
            width: 4,
            signed: false,
            readinto: false,
        },
        Op::BinBytes => Operand::Counted {
            width: 4,
            signed: false,
            readinto: true,
        },
        Op::BinUnicode8 => Operand::Counted {
            width: 8,
            signed: false,
            readinto: false,
        },
        Op::BinBytes8 | Op::ByteArray8 => Operand::Counted {
            width: 8,
            signed: false,
            readinto: true,
        },
        Op::Global | Op::Inst => Operand::Lines(2),
        Op::Int
        | Op::Long
        | Op::Float
        | Op::String
        | Op::Unicode
        | Op::PersId
        | Op::Get
        | Op::Put => Operand::Lines(1),
        _ => Operand::None,
    }
}

/// The C unpickler's input state over a non-peekable file. Every file read replaces the
/// buffer with exactly the bytes read, so the file position is always the buffer's end.
struct Reader<'a> {
    data: &'a [u8],
    /// Next byte to consume from the buffer.
    idx: usize,
    /// End of the buffer, and the file position.
    end: usize,
    /// Where the reading first parted from the in-order one: (opcode offset, opcode, bytes
    /// dropped).
    parted: Option<(usize, Op, usize)>,
    /// The ranges consumed, in order, without FRAME opcodes and their lengths: the reading
    /// is a stream without frames.
    consumed: Vec<Range<usize>>,
    /// The opcode being read, for the record of the parting point.
    current: (usize, Op),
}

impl Reader<'_> {
    fn consume(&mut self, range: Range<usize>) {
        match self.consumed.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => self.consumed.push(range),
        }
    }

    fn drop_rest(&mut self) {
        let rest = self.end - self.idx;
        if rest > 0 && self.parted.is_none() {
            self.parted = Some((self.current.0, self.current.1, rest));
        }
    }

    /// `_Unpickler_Read`: from the buffer when it holds `n` more bytes, else `n` bytes from the
    /// file, dropping the rest of the buffer.
    fn read(&mut self, n: usize) -> Option<Range<usize>> {
        let range = match self.idx.checked_add(n) {
            Some(to) if to <= self.end => self.idx..to,
            _ => {
                let to = self
                    .end
                    .checked_add(n)
                    .filter(|&to| to <= self.data.len())?;
                self.drop_rest();
                self.end..to
            }
        };
        self.idx = range.end;
        self.end = self.end.max(range.end);
        Some(range)
    }

    fn read_kept(&mut self, n: usize) -> Option<Range<usize>> {
        let range = self.read(n)?;
        self.consume(range.clone());
        Some(range)
    }

    /// `_Unpickler_ReadInto`: the rest of the buffer, then the file, with nothing dropped.
    fn read_into(&mut self, n: usize) -> Option<()> {
        let to = self
            .idx
            .checked_add(n)
            .filter(|&to| to <= self.data.len())?;
        self.consume(self.idx..to);
        self.idx = to;
        self.end = self.end.max(to);
        Some(())
    }

    /// `_Unpickler_Readline`: a line in the buffer, else the rest of the buffer is dropped and
    /// a whole line read from the file.
    fn readline(&mut self) -> Option<()> {
        let buffered = &self.data[self.idx..self.end];
        let range = match buffered.iter().position(|&b| b == b'\n') {
            Some(at) => self.idx..self.idx + at + 1,
            None => {
                let rest = self.data.get(self.end..)?;
                let at = rest.iter().position(|&b| b == b'\n')?;
                self.drop_rest();
                self.end..self.end + at + 1
            }
        };
        self.idx = range.end;
        self.end = self.end.max(range.end);
        self.consume(range);
        Some(())
    }

    /// A length field of `width` bytes (kept in the reading unless it belongs to a FRAME).
    fn length(&mut self, width: usize, signed: bool, keep: bool) -> Option<usize> {
        let range = if keep {
            self.read_kept(width)?
        } else {
            self.read(width)?
        };
        let mut bytes = [0u8; 8];
        bytes[..width].copy_from_slice(&self.data[range]);
        let value = u64::from_le_bytes(bytes);
        if signed && width == 4 && value >= 1 << 31 {
            return None;
        }
        usize::try_from(value).ok()
    }

    /// Reads one instruction; `None` where CPython would raise or the stream stops.
    fn instruction(&mut self) -> Option<Op> {
        // A one-byte read never drops anything, so the opcode is where the buffer stood.
        let byte = self.read(1)?;
        let op = Op::from_byte(self.data[byte.start])?;
        self.current = (byte.start, op);
        if op != Op::Frame {
            self.consume(byte);
        }
        match operand(op) {
            Operand::None => {}
            Operand::Fixed(n) => {
                self.read_kept(n)?;
            }
            Operand::Counted {
                width,
                signed,
                readinto,
            } => {
                let n = self.length(width, signed, true)?;
                if readinto {
                    self.read_into(n)?;
                } else {
                    self.read_kept(n)?;
                }
            }
            Operand::Lines(count) => {
                for _ in 0..count {
                    self.readline()?;
                }
            }
            Operand::Frame => {
                let n = self.length(8, false, false)?;
                // The frame is buffered, and its bytes consumed as their opcodes are read.
                let frame = self.read(n)?;
                self.idx = frame.start;
            }
        }
        Some(op)
    }
}

/// In-order bookkeeping of the buffered frame, exact up to the first instruction that runs
/// past the end of the frame it starts in (the readings agree until then).
#[derive(Debug, Clone, Copy)]
pub(super) struct FrameTracker {
    /// End of the buffered frame; an instruction at or past it is read from the file.
    end: usize,
}

impl FrameTracker {
    pub(super) fn new(start: usize) -> Self {
        FrameTracker { end: start }
    }

    /// Whether a file reader could read `instr` otherwise than in order (it runs past its
    /// frame). May say yes where the readings still agree; never says no where they part.
    pub(super) fn crosses(&mut self, instr: &Instr<'_>) -> bool {
        let buffered = instr.pos < self.end;
        match (instr.op, instr.arg) {
            (Op::Frame, Arg::Int(len)) => {
                let after = usize::try_from(len)
                    .ok()
                    .and_then(|len| instr.next.checked_add(len));
                match after {
                    Some(after) if buffered && after <= self.end => false,
                    Some(after) if !buffered || instr.next == self.end => {
                        self.end = after;
                        false
                    }
                    _ => true,
                }
            }
            (Op::BinBytes | Op::ShortBinBytes | Op::BinBytes8 | Op::ByteArray8, arg) => {
                // Read with `readinto`, which runs on into the file; only the length field
                // can jump.
                let payload = match arg {
                    Arg::Bytes(bytes) => bytes.len(),
                    _ => 0,
                };
                let crosses = buffered && instr.next - payload > self.end;
                self.end = self.end.max(instr.next);
                crosses
            }
            _ => buffered && instr.next > self.end,
        }
    }
}

/// Notes `instr`, read in order, in `frames`; an instruction that runs past its frame ends the
/// bookkeeping (`None`): from there the readings may part.
#[inline]
pub(super) fn follow(frames: &mut Option<FrameTracker>, instr: &Instr<'_>) {
    if let Some(tracker) = frames
        && tracker.crosses(instr)
    {
        *frames = None;
    }
}

/// Whether an instruction of the stream at `start`, read in order, runs past the end of the
/// frame it starts in: the quick test that spares ordinary streams the replay.
fn straddles(data: &[u8], start: usize, max_opcodes: u64) -> bool {
    let mut frames = FrameTracker::new(start);
    let mut pos = start;
    for count in 0..max_opcodes {
        if count.is_multiple_of(1 << 16) && count > 0 && deadline::passed() {
            return false;
        }
        let Ok(instr) = ops::read(data, pos) else {
            return false;
        };
        if frames.crosses(&instr) {
            return true;
        }
        if instr.op == Op::Stop {
            return false;
        }
        pos = instr.next;
    }
    false
}

/// Replays the file reader over the stream at `start` (at most `max_opcodes` instructions)
/// and returns its reading when it parts from the in-order one.
pub(super) fn file_reading(data: &[u8], start: usize, max_opcodes: u64) -> Option<FileReading> {
    if !straddles(data, start, max_opcodes) {
        return None;
    }
    replay(data, start, max_opcodes)
}

fn replay(data: &[u8], start: usize, max_opcodes: u64) -> Option<FileReading> {
    let mut reader = Reader {
        data,
        idx: start,
        end: start,
        parted: None,
        consumed: Vec::new(),
        current: (start, Op::Stop),
    };
    let mut stopped = false;
    for count in 0..max_opcodes {
        if count.is_multiple_of(1 << 16) && count > 0 && deadline::passed() {
            break;
        }
        match reader.instruction() {
            Some(Op::Stop) => {
                stopped = true;
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    let (op_at, op, skipped) = reader.parted?;
    let mut bytes: Vec<u8> = Vec::new();
    for range in &reader.consumed {
        bytes.extend_from_slice(&data[range.clone()]);
    }
    if stopped {
        bytes.extend_from_slice(&data[reader.end..]);
    }
    Some(FileReading {
        op_at,
        op,
        skipped,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8], after: &[u8]) -> Vec<u8> {
        let mut data = b"\x80\x04\x95".to_vec();
        data.extend_from_slice(&(body.len() as u64).to_le_bytes());
        data.extend_from_slice(body);
        data.extend_from_slice(after);
        data
    }

    #[test]
    fn frames_that_end_at_opcodes_read_the_same_both_ways() {
        let data = framed(b"\x8c\x02os\x94\x8c\x06system\x94\x93.", b"");
        assert!(file_reading(&data, 0, 1000).is_none());
        // A nested frame inside the buffer changes nothing.
        let data = framed(b"\x95\x02\x00\x00\x00\x00\x00\x00\x00NN", b"K\x07.");
        assert!(file_reading(&data, 0, 1000).is_none());
    }

    #[test]
    fn a_counted_string_past_the_frame_is_read_from_after_it() {
        // pickle.loads reads "abcde" then fails on 'f'; a file reader reads "cdefg" and stops.
        let data = framed(b"\x8c\x05ab", b"cdefg.");
        let reading = file_reading(&data, 0, 1000).unwrap();
        assert_eq!(reading.op, Op::ShortBinUnicode);
        assert_eq!(reading.op_at, 11);
        assert_eq!(reading.skipped, 2);
        assert_eq!(&reading.bytes[2..], b"\x8c\x05cdefg.");
    }

    #[test]
    fn lines_and_fixed_operands_jump_too() {
        let data = framed(b"I12", b"34\n.");
        let reading = file_reading(&data, 0, 1000).unwrap();
        assert_eq!(reading.op, Op::Int);
        assert_eq!(&reading.bytes[2..], b"I34\n.");
        let data = framed(b"J\x01\x02", b"\x05\x06\x07\x08.");
        let reading = file_reading(&data, 0, 1000).unwrap();
        assert_eq!(&reading.bytes[2..], b"J\x05\x06\x07\x08.");
    }

    #[test]
    fn bytes_payloads_are_read_into_and_do_not_jump() {
        // SHORT_BINBYTES goes through readinto: the rest of the frame, then the file.
        assert!(file_reading(&framed(b"C\x05ab", b"cdefg."), 0, 1000).is_none());
        assert!(file_reading(&framed(b"B\x05\x00\x00\x00ab", b"cde."), 0, 1000).is_none());
    }

    #[test]
    fn the_quick_test_never_misses_a_parting() {
        let pieces: [&[u8]; 9] = [
            b"N",
            b"K\x01",
            b"\x8c\x03abc",
            b"C\x02xy",
            b"B\x03\x00\x00\x00xyz",
            b"I12\n",
            b"cos\nsystem\n",
            b"X\x02\x00\x00\x00ab",
            b"\x95",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut parted = 0;
        for _ in 0..20_000 {
            let mut data = b"\x80\x04".to_vec();
            for _ in 0..next(12) + 1 {
                let piece = pieces[next(pieces.len() as u64) as usize];
                data.extend_from_slice(piece);
                if piece == b"\x95" {
                    data.extend_from_slice(&next(24).to_le_bytes());
                }
            }
            data.push(b'.');
            let exact = replay(&data, 0, 1000).is_some();
            parted += usize::from(exact);
            assert!(!exact || straddles(&data, 0, 1000), "{data:?}");
        }
        assert!(parted > 100, "only {parted} streams parted");
    }

    #[test]
    fn the_rest_of_the_data_follows_a_reading_that_stops() {
        let data = framed(b"\x8c\x02a", b"bcN.tail");
        let reading = file_reading(&data, 0, 1000).unwrap();
        assert_eq!(&reading.bytes[2..], b"\x8c\x02bcN.tail");
        let data = framed(b"\x8c\x01", b"bN.tail");
        // The length byte is the last byte of the frame: nothing is dropped.
        assert!(file_reading(&data, 0, 1000).is_none());
    }
}
