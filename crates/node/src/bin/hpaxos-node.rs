//! `hpaxos-node node --config FILE --name NAME ...`: the node alone, for the
//! multi-process tests of this crate (`hpaxos node` is the same entry point).

fn main() -> std::process::ExitCode {
    hpaxos_node::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = match hpaxos_node::parse_node_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match hpaxos_node::run_node(a) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain of causes, as `hpaxos` prints it.
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("error: {msg}");
            std::process::ExitCode::from(2)
        }
    }
}
