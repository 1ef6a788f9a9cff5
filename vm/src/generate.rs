//! Random well-formed Maat programs, for fuzzing and differential testing:
//! [`program`] turns any bytes into a program the compiler accepts, with
//! functions, closures, classes with inheritance, arrays, maps, strings,
//! `try`/`throw`, and maatines with channels and read-modify-write on a
//! shared global.
//!
//! Invariant: a generated program's output does not depend on the
//! collector mode, torture mode or the number of OS threads. Only the main
//! maatine prints; maatines return values that are joined in order, send
//! on channels that are drained after every sender is joined and summed
//! (addition commutes), and update the shared global only with `+=` of
//! whole numbers; every loop is bounded. So an output that differs between
//! two such runs is a bug of the runtime.

/// A source of choices: the fuzzer's bytes, then zeros.
struct Bytes<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    /// A choice among `n`.
    fn pick(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    fn small(&mut self) -> i64 {
        i64::from(self.byte() % 20) - 5
    }
}

/// What the generator knows while it writes: variables in scope, how deep
/// it is, and the counter of fresh names.
struct Writer<'a> {
    bytes: Bytes<'a>,
    out: String,
    vars: Vec<String>,
    depth: usize,
    fresh: usize,
}

const MAX_DEPTH: usize = 3;

/// The program `bytes` make (any bytes make one; the same bytes, the same
/// program).
pub fn program(bytes: &[u8]) -> String {
    let mut w = Writer { bytes: Bytes { bytes, at: 0 }, out: String::new(), vars: vec![], depth: 0, fresh: 0 };
    w.prelude();
    let statements = 5 + w.bytes.pick(20);
    for _ in 0..statements {
        w.statement();
    }
    w.line("say \"total \", total, \" \", log");
    w.out
}

impl Writer<'_> {
    fn line(&mut self, text: &str) {
        self.out.push_str(&"    ".repeat(self.depth));
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn name(&mut self) -> String {
        self.fresh += 1;
        format!("v{}", self.fresh)
    }

    /// Declarations every program has: a shared counter, a log, helpers, a
    /// class hierarchy.
    fn prelude(&mut self) {
        for line in [
            "our total = 0",
            "our log = []",
            "fn twice(x) { return x * 2 }",
            "fn pick(a, i) { if a.len == 0 { return 0 } return a[i % a.len].to_s.len }",
            "fn risky(n) { if n % 3 == 0 { throw \"bad \" ~ n } return n + 1 }",
            "fn work(n) { let s = 0; for ^(n % 50) -> i { s += i; total += 1 } return s }",
            "class Shape { has size = 1; fn area() { return self.size * self.size } fn name() { return \"shape\" } }",
            "class Square is Shape { fn name() { return \"square \" ~ super.name() } }",
            "class Circle is Shape { has r = 2; fn area() { return self.r * self.r * 3 } }",
        ] {
            self.line(line);
        }
        self.vars.extend(["total".to_owned()]);
    }

    fn statement(&mut self) {
        let choice = if self.depth >= MAX_DEPTH { self.bytes.pick(3) } else { self.bytes.pick(11) };
        match choice {
            0 => {
                let (name, e) = (self.name(), self.expr());
                self.line(&format!("let {name} = {e}"));
                self.vars.push(name);
            }
            1 => self.say(),
            2 => {
                let e = self.number();
                self.line(&format!("total += {e}"));
            }
            3 => {
                let c = self.condition();
                self.block(&format!("if {c}"), |w| w.statement());
            }
            4 => {
                let n = self.bytes.pick(8);
                let i = self.name();
                self.vars.push(i.clone());
                self.block(&format!("for ^{n} -> {i}"), |w| w.statement());
                self.vars.retain(|v| *v != i);
            }
            5 => {
                let e = self.number();
                self.block("try", |w| {
                    w.line(&format!("let r = risky({e})"));
                    w.line("log.push(r)");
                });
                self.out.truncate(self.out.trim_end().len());
                self.out.push_str(" catch e { log.push(e) }\n");
            }
            6 => self.maatines(),
            7 => self.channel(),
            8 => {
                let (name, size) = (self.name(), self.bytes.pick(5));
                let class = ["Shape", "Square", "Circle"][self.bytes.pick(3)];
                self.line(&format!("let {name} = {class}.new(size: {size})"));
                self.line(&format!("log.push({name}.name() ~ \" \" ~ {name}.area())"));
            }
            9 => {
                let (name, k) = (self.name(), self.bytes.small());
                self.line(&format!("let {name} = {{ |x| x * {k} + total % 7 }}"));
                let arg = self.number();
                self.line(&format!("log.push({name}({arg}))"));
            }
            _ => {
                let m = self.name();
                self.line(&format!("let {m} = {{}}"));
                let n = self.bytes.pick(6);
                self.line(&format!("for ^{n} -> k {{ {m}[\"k\" ~ k] = k * k }}"));
                self.line(&format!("log.push({m}.len)"));
            }
        }
    }

    fn say(&mut self) {
        let e = self.expr();
        self.line(&format!("say {e}"));
    }

    fn block(&mut self, head: &str, body: impl FnOnce(&mut Self)) {
        self.line(&format!("{head} {{"));
        self.depth += 1;
        let vars = self.vars.len();
        body(self);
        self.vars.truncate(vars);
        self.depth -= 1;
        self.line("}");
    }

    /// Maatines that update the shared counter and return values, joined in
    /// order.
    fn maatines(&mut self) {
        let (hs, n, k) = (self.name(), 1 + self.bytes.pick(6), self.bytes.pick(40));
        self.line(&format!("let {hs} = []"));
        self.line(&format!("for ^{n} -> i {{ {hs}.push(ma work(i * {k})) }}"));
        self.line(&format!("let {hs}_sum = 0"));
        self.line(&format!("for {hs} -> h {{ {hs}_sum += h.join }}"));
        self.line(&format!("say \"joined \", {hs}_sum"));
        if self.bytes.pick(2) == 0 {
            self.line(&format!("ma for ^{n} -> i {{ total += i }}"));
        }
    }

    /// Maatines sending on a channel; the sum of what arrives is the same
    /// whatever the order.
    fn channel(&mut self) {
        let (c, n) = (self.name(), 1 + self.bytes.pick(5));
        self.line(&format!("let {c} = Chan.new({})", n * 3));
        self.line(&format!("let {c}_hs = []"));
        self.line(&format!(
            "for ^{n} -> i {{ {c}_hs.push(ma {{ |k| for ^3 -> j {{ {c}.send(k * 10 + j) }} k }}(i)) }}"
        ));
        self.line(&format!("for {c}_hs -> h {{ h.join }}"));
        self.line(&format!("let {c}_sum = 0"));
        self.line(&format!("while {c}.len > 0 {{ {c}_sum += {c}.recv }}"));
        self.line(&format!("log.push({c}_sum)"));
    }

    fn condition(&mut self) -> String {
        let (a, b) = (self.number(), self.number());
        let op = ["<", "<=", "==", "!=", ">", ">="][self.bytes.pick(6)];
        format!("{a} {op} {b}")
    }

    /// A number-valued expression.
    fn number(&mut self) -> String {
        match self.bytes.pick(6) {
            0 => self.bytes.small().to_string(),
            1 if !self.vars.is_empty() => {
                let v = self.vars[self.bytes.pick(self.vars.len())].clone();
                format!("(({v}).to_s.len)")
            }
            2 => format!("twice({})", self.bytes.small()),
            3 => format!("pick(log, {})", self.bytes.pick(9)),
            4 => "(total % 11)".to_owned(),
            _ => format!("({} {} {})", self.bytes.small(), ["+", "-", "*"][self.bytes.pick(3)], self.bytes.small()),
        }
    }

    /// Any expression.
    fn expr(&mut self) -> String {
        match self.bytes.pick(7) {
            0 => self.number(),
            1 => format!("\"s\" ~ {}", self.number()),
            2 => format!("[{}, {}, \"x\"]", self.number(), self.number()),
            3 => format!("{{a => {}, b => [1, 2]}}", self.number()),
            4 => format!("[3, 1, 2].map({{ |x| x * {} }})", self.bytes.small()),
            5 => format!("format(\"%03d|%s\", Math.abs({}), \"t\")", self.number()),
            _ if !self.vars.is_empty() => self.vars[self.bytes.pick(self.vars.len())].clone(),
            _ => "nil".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_input_makes_a_program_that_compiles() {
        for seed in 0..300u32 {
            let bytes: Vec<u8> =
                (0..200).map(|i| (seed.wrapping_mul(2654435761).wrapping_add(i * 40503) >> 7) as u8).collect();
            let src = super::program(&bytes);
            let ast = crate::parse(&src).unwrap_or_else(|e| panic!("{}\n{src}", e.render("gen.maat", &src)));
            crate::compiler::compile(&ast, "gen.maat", &src)
                .unwrap_or_else(|e| panic!("{}\n{src}", e.render("gen.maat", &src)));
        }
    }
}
