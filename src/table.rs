//! Plain-text tables for people reading a terminal: columns padded to their widest cell, two
//! spaces apart, the last column left unpadded (it holds the long free text).

/// The header and rows as aligned lines, each ending in `\n`.
pub fn render<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header = header.map(String::from);
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if i + 1 < N {
                let pad = width - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up_and_the_last_is_free() {
        let rows = [
            ["rgw.a".to_string(), "ok".into(), "-".into()],
            [
                "rgw.bb".into(),
                "timeout".into(),
                "restart requested".into(),
            ],
        ];
        assert_eq!(
            super::render(["NAME", "PROBE", "ACTION"], &rows),
            "NAME    PROBE    ACTION\nrgw.a   ok       -\nrgw.bb  timeout  restart requested\n"
        );
    }
}
