//! The folder a wrapper runs its command in (`env -C DIR CMD`): the command's relative paths
//! are that folder's.

use super::*;

/// A folder as written, and whether it is literal (one known only at run time makes the paths
/// in it run-time paths too).
pub(super) type Folder = Rc<(String, bool)>;

/// The folder a wrapped command runs in: `dir`, relative to `outer` unless absolute, or
/// `outer` when the wrapper names none.
pub(super) fn within(outer: &Option<Folder>, dir: Option<Word>) -> Option<Folder> {
    match (outer, dir) {
        (outer, None) => outer.clone(),
        (Some(outer), Some(dir)) if !dir.path.starts_with('/') && !dir.path.starts_with('~') => {
            let (d, literal) = outer.as_ref();
            Some(Rc::new((
                format!("{}/{}", d.trim_end_matches('/'), dir.path),
                *literal && dir.path_literal,
            )))
        }
        (_, Some(dir)) => Some(Rc::new((dir.path, dir.path_literal))),
    }
}

/// Places each relative path of a command run in another folder (`folders`, by command
/// index) in that folder.
pub(super) fn place(accesses: &mut [FileAccess], folders: &[Option<Folder>]) {
    for a in accesses {
        if let Some(Some(folder)) = folders.get(a.command_index)
            && !a.path.starts_with('/')
            && !a.path.starts_with('~')
        {
            let (dir, literal) = folder.as_ref();
            a.path = format!("{}/{}", dir.trim_end_matches('/'), a.path);
            a.literal &= *literal;
        }
    }
}
