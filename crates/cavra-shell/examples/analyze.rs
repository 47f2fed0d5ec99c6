//! Prints cavra's analysis of each argument (a development aid).
fn main() {
    for arg in std::env::args().skip(1) {
        let a = cavra_shell::analyze(&arg);
        println!("== {arg}");
        for (i, c) in a.commands.iter().enumerate() {
            println!(
                "  [{i}] {:?} role={:?} via={:?} classes={:?} variants={:?}",
                c.argv, c.role, c.via, c.classes, c.variants
            );
        }
        for f in &a.file_accesses {
            println!(
                "  file {:?} {} lit={} cmd={} ({})",
                f.kind, f.path, f.literal, f.command_index, f.reason
            );
        }
        for p in &a.git_pushes {
            println!("  push {p:?}");
        }
        println!("  classes={:?} problems={:?}", a.classes, a.problems);
    }
}
