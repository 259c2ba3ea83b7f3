//! Names of host calls shared by the framework analysers (Keras configs and Lambda bytecode,
//! TensorFlow graphs, TorchScript code): which Python modules and functions reach a process,
//! the network, the file system or the interpreter itself. Judged by name alone: these
//! analysers see names in configs, code objects and graph attributes, never resolved objects.

/// What a host call reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Runs a program or forks.
    Process,
    /// Opens a connection or fetches a URL.
    Network,
    /// Writes, deletes or reads host files.
    Files,
    /// Runs or loads code: eval/exec/import/unpickle.
    Code,
}

impl Reach {
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Process => "runs a process",
            Reach::Network => "reaches the network",
            Reach::Files => "touches host files",
            Reach::Code => "runs or imports code",
        }
    }
}

/// Modules any of whose functions reach the host.
const MODULES: &[(&str, Reach)] = &[
    ("os", Reach::Process),
    ("posix", Reach::Process),
    ("nt", Reach::Process),
    ("subprocess", Reach::Process),
    ("pty", Reach::Process),
    ("commands", Reach::Process),
    ("popen2", Reach::Process),
    ("multiprocessing", Reach::Process),
    ("asyncio", Reach::Process),
    ("shutil", Reach::Files),
    ("tempfile", Reach::Files),
    ("socket", Reach::Network),
    ("ssl", Reach::Network),
    ("urllib", Reach::Network),
    ("urllib2", Reach::Network),
    ("http", Reach::Network),
    ("httplib", Reach::Network),
    ("requests", Reach::Network),
    ("httpx", Reach::Network),
    ("ftplib", Reach::Network),
    ("smtplib", Reach::Network),
    ("telnetlib", Reach::Network),
    ("webbrowser", Reach::Network),
    ("builtins", Reach::Code),
    ("__builtin__", Reach::Code),
    ("__builtins__", Reach::Code),
    ("sys", Reach::Code),
    ("importlib", Reach::Code),
    ("runpy", Reach::Code),
    ("code", Reach::Code),
    ("codeop", Reach::Code),
    ("ctypes", Reach::Code),
    ("cffi", Reach::Code),
    ("pickle", Reach::Code),
    ("cPickle", Reach::Code),
    ("_pickle", Reach::Code),
    ("dill", Reach::Code),
    ("cloudpickle", Reach::Code),
    ("marshal", Reach::Code),
    ("types", Reach::Code),
    ("pydoc", Reach::Code),
    ("timeit", Reach::Code),
    ("pdb", Reach::Code),
    ("bdb", Reach::Code),
];

/// Functions (and attribute names) that reach the host whatever object they hang off.
const FUNCTIONS: &[(&str, Reach)] = &[
    ("system", Reach::Process),
    ("popen", Reach::Process),
    ("Popen", Reach::Process),
    ("spawnl", Reach::Process),
    ("spawnle", Reach::Process),
    ("spawnlp", Reach::Process),
    ("spawnlpe", Reach::Process),
    ("spawnv", Reach::Process),
    ("spawnvp", Reach::Process),
    ("spawnve", Reach::Process),
    ("spawnvpe", Reach::Process),
    ("posix_spawn", Reach::Process),
    ("posix_spawnp", Reach::Process),
    ("execl", Reach::Process),
    ("execle", Reach::Process),
    ("execlp", Reach::Process),
    ("execlpe", Reach::Process),
    ("execv", Reach::Process),
    ("execve", Reach::Process),
    ("execvp", Reach::Process),
    ("execvpe", Reach::Process),
    ("fork", Reach::Process),
    ("forkpty", Reach::Process),
    ("check_output", Reach::Process),
    ("check_call", Reach::Process),
    ("getoutput", Reach::Process),
    ("getstatusoutput", Reach::Process),
    ("startfile", Reach::Process),
    ("kill", Reach::Process),
    ("urlopen", Reach::Network),
    ("urlretrieve", Reach::Network),
    ("create_connection", Reach::Network),
    ("get_file", Reach::Network),
    ("open", Reach::Files),
    ("remove", Reach::Files),
    ("unlink", Reach::Files),
    ("rmdir", Reach::Files),
    ("rmtree", Reach::Files),
    ("removedirs", Reach::Files),
    ("rename", Reach::Files),
    ("chmod", Reach::Files),
    ("chown", Reach::Files),
    ("symlink", Reach::Files),
    ("write_text", Reach::Files),
    ("write_bytes", Reach::Files),
    ("write_file", Reach::Files),
    ("read_file", Reach::Files),
    ("copyfile", Reach::Files),
    ("putenv", Reach::Process),
    ("eval", Reach::Code),
    ("exec", Reach::Code),
    ("execfile", Reach::Code),
    ("compile", Reach::Code),
    ("__import__", Reach::Code),
    ("import_module", Reach::Code),
    ("load_source", Reach::Code),
    ("run_module", Reach::Code),
    ("run_path", Reach::Code),
    ("globals", Reach::Code),
    ("__globals__", Reach::Code),
    ("__builtins__", Reach::Code),
    ("__subclasses__", Reach::Code),
    ("__code__", Reach::Code),
    ("__reduce__", Reach::Code),
    ("__reduce_ex__", Reach::Code),
    ("breakpoint", Reach::Code),
    ("enable_unsafe_deserialization", Reach::Code),
    ("load_library", Reach::Code),
    ("load_op_library", Reach::Code),
    ("LoadLibrary", Reach::Code),
    ("CDLL", Reach::Code),
];

/// What `module` (dotted) reaches, judged by its top-level package.
pub fn module_reach(module: &str) -> Option<Reach> {
    let root = module.split('.').next().unwrap_or(module);
    MODULES.iter().find(|(m, _)| *m == root).map(|(_, r)| *r)
}

/// What the function or attribute `name` (the last part of a dotted name) reaches.
pub fn function_reach(name: &str) -> Option<Reach> {
    let last = name.rsplit('.').next().unwrap_or(name);
    FUNCTIONS.iter().find(|(f, _)| *f == last).map(|(_, r)| *r)
}

/// What a dotted name reaches, by its module or its last part.
pub fn name_reach(name: &str) -> Option<Reach> {
    function_reach(name).or_else(|| module_reach(name))
}

/// Why a path a loader would open leaves the model's folder, if it does: absolute paths,
/// drive letters, UNC paths, `..` components, `~` and URL schemes.
pub fn path_escape(path: &str) -> Option<&'static str> {
    let path = path.split('\0').next().unwrap_or_default().trim();
    if path.is_empty() {
        return None;
    }
    if let Some((scheme, _)) = path.split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return Some("a URL");
    }
    let bytes = path.as_bytes();
    if bytes[0] == b'/' || bytes[0] == b'\\' {
        return Some("an absolute path");
    }
    if bytes[0] == b'~' {
        return Some("a path in a home directory");
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Some("a path with a drive letter");
    }
    if path.split(['/', '\\']).any(|c| c == "..") {
        return Some("a path that climbs out with `..`");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(name_reach("os.system"), Some(Reach::Process));
        assert_eq!(name_reach("subprocess"), Some(Reach::Process));
        assert_eq!(name_reach("keras.utils.get_file"), Some(Reach::Network));
        assert_eq!(name_reach("keras.layers.Dense"), None);
        assert_eq!(name_reach("relu"), None);
        assert_eq!(path_escape("/etc/passwd"), Some("an absolute path"));
        assert_eq!(
            path_escape("../../x"),
            Some("a path that climbs out with `..`")
        );
        assert_eq!(path_escape("http://192.0.2.1/v"), Some("a URL"));
        assert_eq!(path_escape("C:\\x"), Some("a path with a drive letter"));
        assert_eq!(path_escape("assets/vocab.txt"), None);
        assert_eq!(path_escape(""), None);
    }
}
