//! The strict RFC 8259 reader: depth and size limits, typed errors, never panics.

use super::{
    BigInt, JsonError, Value, DEFAULT_MAX_DEPTH, DEFAULT_MAX_INPUT_BYTES, PY_INT_MAX_STR_DIGITS,
};

/// Reader limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_input_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
        }
    }
}

/// Parse one JSON document with default [`Limits`].
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    parse_with_limits(input, Limits::default())
}

/// Parse one JSON document (surrounding whitespace allowed, nothing else).
pub fn parse_with_limits(input: &[u8], limits: Limits) -> Result<Value, JsonError> {
    if input.len() > limits.max_input_bytes {
        return Err(JsonError::TooLarge(input.len(), limits.max_input_bytes));
    }
    let text = std::str::from_utf8(input).map_err(|_| JsonError::InvalidUtf8)?;
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
        limits,
    };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(JsonError::TrailingData(p.pos));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    limits: Limits,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }
    fn expect_lit(&mut self, lit: &[u8]) -> Result<(), JsonError> {
        let end = self
            .pos
            .checked_add(lit.len())
            .ok_or(JsonError::UnexpectedEof)?;
        match self.s.get(self.pos..end) {
            Some(got) if got == lit => {
                self.pos = end;
                Ok(())
            }
            Some(_) => Err(JsonError::UnexpectedChar(self.pos)),
            None => Err(JsonError::UnexpectedEof),
        }
    }
    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            None => Err(JsonError::UnexpectedEof),
            Some(b'n') => self.expect_lit(b"null").map(|_| Value::Null),
            Some(b't') => self.expect_lit(b"true").map(|_| Value::Bool(true)),
            Some(b'f') => self.expect_lit(b"false").map(|_| Value::Bool(false)),
            Some(b'"') => self.string().map(Value::Str),
            Some(b'[') => self.array(depth + 1),
            Some(b'{') => self.object(depth + 1),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(JsonError::UnexpectedChar(self.pos)),
        }
    }
    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > self.limits.max_depth {
            return Err(JsonError::TooDeep(self.limits.max_depth));
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                Some(_) => return Err(JsonError::UnexpectedChar(self.pos)),
                None => return Err(JsonError::UnexpectedEof),
            }
        }
    }
    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > self.limits.max_depth {
            return Err(JsonError::TooDeep(self.limits.max_depth));
        }
        self.pos += 1;
        let mut obj = Value::Object(Vec::new());
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(obj);
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'"') => {}
                Some(_) => return Err(JsonError::UnexpectedChar(self.pos)),
                None => return Err(JsonError::UnexpectedEof),
            }
            let key = self.string()?;
            self.skip_ws();
            match self.peek() {
                Some(b':') => self.pos += 1,
                Some(_) => return Err(JsonError::UnexpectedChar(self.pos)),
                None => return Err(JsonError::UnexpectedEof),
            }
            self.skip_ws();
            let v = self.value(depth)?;
            obj.insert(&key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(obj);
                }
                Some(_) => return Err(JsonError::UnexpectedChar(self.pos)),
                None => return Err(JsonError::UnexpectedEof),
            }
        }
    }
    fn hex4(&mut self) -> Result<u32, JsonError> {
        let start = self.pos;
        let end = start.checked_add(4).ok_or(JsonError::UnexpectedEof)?;
        let chunk = self
            .text
            .get(start..end)
            .ok_or(JsonError::InvalidEscape(start))?;
        if !chunk.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(JsonError::InvalidEscape(start));
        }
        self.pos = end;
        u32::from_str_radix(chunk, 16).map_err(|_| JsonError::InvalidEscape(start))
    }
    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(
                self.text
                    .get(run_start..self.pos)
                    .ok_or(JsonError::InvalidUtf8)?,
            );
            match self.peek() {
                None => return Err(JsonError::UnexpectedEof),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let esc_pos = self.pos;
                    self.pos += 1;
                    let c = self.peek().ok_or(JsonError::UnexpectedEof)?;
                    self.pos += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{08}'),
                        b'f' => out.push('\u{0c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.pos) == Some(&b'\\')
                                    && self.s.get(self.pos + 1) == Some(&b'u')
                                {
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return Err(JsonError::LoneSurrogate(esc_pos));
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    return Err(JsonError::LoneSurrogate(esc_pos));
                                }
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(JsonError::LoneSurrogate(esc_pos));
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).ok_or(JsonError::InvalidEscape(esc_pos))?);
                        }
                        _ => return Err(JsonError::InvalidEscape(esc_pos)),
                    }
                }
                Some(_) => return Err(JsonError::ControlCharacter(self.pos)),
            }
        }
    }
    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
            }
            _ => return Err(JsonError::InvalidNumber(start)),
        }
        let int_end = self.pos;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            is_float = true;
            self.pos += 1;
            let d = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            if self.pos == d {
                return Err(JsonError::InvalidNumber(start));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            is_float = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            let d = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            if self.pos == d {
                return Err(JsonError::InvalidNumber(start));
            }
        }
        let text = self
            .text
            .get(start..self.pos)
            .ok_or(JsonError::InvalidNumber(start))?;
        if is_float {
            let f = crate::decfloat::parse_f64(text).ok_or(JsonError::InvalidNumber(start))?;
            if !f.is_finite() {
                return Err(JsonError::NumberOutOfRange(start));
            }
            Ok(Value::Float(f))
        } else {
            let digits = self
                .text
                .get(int_start..int_end)
                .ok_or(JsonError::InvalidNumber(start))?;
            if digits.len() > PY_INT_MAX_STR_DIGITS {
                return Err(JsonError::NumberOutOfRange(start));
            }
            BigInt::from_parts(neg, digits)
                .map(Value::Int)
                .ok_or(JsonError::InvalidNumber(start))
        }
    }
}
