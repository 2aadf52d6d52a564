//! Finding nodes by path and alias without the `fdt` crate's lookup.
//!
//! `Fdt::find_node` (fdt 0.1.5) falls back to `/aliases` when a path is not
//! found, and resolves the alias's value with `find_node` again: an alias
//! whose value names itself (`serial0 = "serial0"`), or two that name each
//! other, recurse until the stack overflows, and the property names of
//! `/aliases` are whatever the blob says, `"/chosen"` included. So every
//! lookup the kernel makes goes through [`find`], which walks the path's
//! components down from the root with `children()` and never looks at
//! aliases, and [`find_path_or_alias`], which resolves an alias exactly
//! once (its value must be a path), as the Devicetree Specification (3.3)
//! defines them.

use fdt::Fdt;
use fdt::node::FdtNode;

/// Whether node `name` (`"uart@9000000"`) matches path component
/// `component`: exactly when the component has a unit address, else by the
/// name before `@` (the `fdt` crate's rule, and Linux's).
fn matches(name: &str, component: &str) -> bool {
    if component.contains('@') {
        name == component
    } else {
        name.split('@').next() == Some(component)
    }
}

/// The node at absolute `path` (`"/"`, `"/chosen"`, `"/cpus/cpu@1"`), or
/// `None` (also for a path that does not start with `/`). The first child
/// that matches each component is taken.
pub fn find<'b, 'a>(fdt: &'b Fdt<'a>, path: &str) -> Option<FdtNode<'b, 'a>> {
    let rest = path.strip_prefix('/')?;
    // The root's name is empty (`check` insists), so this finds it without
    // falling back to aliases.
    let mut node = fdt.find_node("/")?;
    for component in rest.split('/').filter(|c| !c.is_empty()) {
        node = node.children().find(|child| matches(child.name, component))?;
    }
    Some(node)
}

/// The node `path_or_alias` names: an absolute path, or the name of a
/// property of `/aliases` whose value is one (resolved once; an alias that
/// names another alias is not followed).
pub fn find_path_or_alias<'b, 'a>(
    fdt: &'b Fdt<'a>,
    path_or_alias: &str,
) -> Option<FdtNode<'b, 'a>> {
    if path_or_alias.starts_with('/') {
        return find(fdt, path_or_alias);
    }
    let path = find(fdt, "/aliases")?.property(path_or_alias)?.as_str()?;
    find(fdt, path)
}
