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
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
