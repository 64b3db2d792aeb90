//! A small line-protocol reader following InfluxDB 1.x's rules, to check what the encoder writes.
#![allow(dead_code)]

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Num(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, Value)>,
    pub ts: i64,
}

impl Point {
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Reads a name up to an unescaped char in `stops`; `\x` for x in `escapable` means x.
fn name(s: &[char], i: &mut usize, stops: &[char], escapable: &[char]) -> String {
    let mut out = String::new();
    while *i < s.len() && !stops.contains(&s[*i]) {
        if s[*i] == '\\' && *i + 1 < s.len() && escapable.contains(&s[*i + 1]) {
            out.push(s[*i + 1]);
            *i += 2;
        } else {
            out.push(s[*i]);
            *i += 1;
        }
    }
    out
}

/// Parses a whole body; lines end at a newline outside a quoted string. `#` lines are comments.
pub fn parse(body: &str) -> Result<Vec<Point>, String> {
    let s: Vec<char> = body.chars().collect();
    let mut i = 0;
    let mut points = Vec::new();
    while i < s.len() {
        if s[i] == '#' {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
            i += 1;
            continue;
        }
        let measurement = name(&s, &mut i, &[',', ' ', '\n'], &[',', ' ']);
        let mut tags = Vec::new();
        while i < s.len() && s[i] == ',' {
            i += 1;
            let k = name(&s, &mut i, &['=', ',', ' ', '\n'], &[',', '=', ' ']);
            expect(&s, &mut i, '=')?;
            let v = name(&s, &mut i, &[',', ' ', '\n'], &[',', '=', ' ']);
            tags.push((k, v));
        }
        expect(&s, &mut i, ' ')?;
        let mut fields = Vec::new();
        loop {
            let k = name(&s, &mut i, &['=', ',', ' ', '\n'], &[',', '=', ' ']);
            expect(&s, &mut i, '=')?;
            let v = if i < s.len() && s[i] == '"' {
                i += 1;
                let mut out = String::new();
                loop {
                    match s.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') if matches!(s.get(i + 1), Some('"') | Some('\\')) => {
                            out.push(s[i + 1]);
                            i += 2;
                        }
                        Some(c) => {
                            out.push(*c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                Value::Str(out)
            } else {
                let start = i;
                while i < s.len() && ![',', ' ', '\n'].contains(&s[i]) {
                    i += 1;
                }
                let text: String = s[start..i].iter().collect();
                match text.strip_suffix('i') {
                    Some(n) => Value::Int(n.parse().map_err(|_| format!("bad int {text}"))?),
                    None => {
                        text.parse::<f64>().map_err(|_| format!("bad number {text}"))?;
                        Value::Num(text)
                    }
                }
            };
            fields.push((k, v));
            if i < s.len() && s[i] == ',' {
                i += 1;
                continue;
            }
            break;
        }
        expect(&s, &mut i, ' ')?;
        let start = i;
        while i < s.len() && s[i] != '\n' {
            i += 1;
        }
        let ts: String = s[start..i].iter().collect();
        let ts = ts.parse().map_err(|_| format!("bad timestamp {ts:?}"))?;
        expect(&s, &mut i, '\n')?;
        if measurement.is_empty() || tags.iter().any(|(k, v)| k.is_empty() || v.is_empty()) {
            return Err("empty name".into());
        }
        points.push(Point { measurement, tags, fields, ts });
    }
    Ok(points)
}

fn expect(s: &[char], i: &mut usize, c: char) -> Result<(), String> {
    if s.get(*i) == Some(&c) {
        *i += 1;
        Ok(())
    } else {
        Err(format!("expected {c:?} at {i}, found {:?}", s.get(*i)))
    }
}
