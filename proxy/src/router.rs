//! Resource trees with Amazon API Gateway's matching rules, built once at load.
//!
//! A resource path is a list of segments: literals, `{name}` (exactly one segment) and, last
//! only, `{name+}` (one or more segments). At each node a literal child is tried before the
//! `{name}` child, and that before the greedy one; when a branch has no method for the
//! request the search backs up and tries the next candidate. Matching allocates nothing:
//! parameter values are recorded as byte spans of the request path.

use smallvec::SmallVec;

/// Path parameter values as `(start, end)` byte offsets into the request path.
pub type ParamSpans = SmallVec<[(u32, u32); 4]>;

/// One segment of a resource path as written in config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

/// Parses a resource path such as `/pets/{id}` or `/files/{proxy+}`.
pub fn parse_resource_path(path: &str) -> Result<Vec<Segment>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "expected a resource path starting with `/`, found `{path}`"
        ));
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(format!(
                "expected non-empty path segments (no `//` and no trailing `/`), found `{path}`"
            ));
        }
        let seg = if let Some(inner) = part.strip_prefix('{') {
            let Some(inner) = inner.strip_suffix('}') else {
                return Err(format!("segment `{part}` opens `{{` without closing it"));
            };
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Err(format!(
                    "parameter `{part}` must be `{{name}}` or `{{name+}}` with a name of letters, digits, `_`, `-` or `.`"
                ));
            }
            if greedy {
                if i + 1 != parts.len() {
                    return Err(format!(
                        "greedy parameter `{part}` must be the last segment of the path"
                    ));
                }
                Segment::Greedy(name.to_owned())
            } else {
                Segment::Param(name.to_owned())
            }
        } else {
            if let Some(bad) = part
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "-._~:@!$&'()*,;=%".contains(*c)))
            {
                return Err(format!(
                    "segment `{part}` contains `{bad}`, which a path segment cannot"
                ));
            }
            Segment::Literal((*part).to_owned())
        };
        out.push(seg);
    }
    let mut names: Vec<&str> = out
        .iter()
        .filter_map(|s| match s {
            Segment::Param(n) | Segment::Greedy(n) => Some(n.as_str()),
            Segment::Literal(_) => None,
        })
        .collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "parameter `{{{}}}` appears twice in `{path}`",
            w[0]
        ));
    }
    Ok(out)
}

#[derive(Debug, Default)]
struct Node {
    /// Sorted by segment for binary search.
    literals: Vec<(Box<str>, Node)>,
    param: Option<Box<Node>>,
    greedy: Option<usize>,
    resource: Option<usize>,
}

/// The resources of one API, indexed by their position in the API's resource list.
#[derive(Debug, Default)]
pub struct ResourceTree {
    root: Node,
}

/// Collects an API's resource paths, telling a duplicate at once, and builds the tree from
/// them in sorted order, so that each literal child is appended to its node's sorted list.
/// (Inserting them as they came moved a node's later children for every new sibling: the
/// square of the number of siblings.)
#[derive(Debug, Default)]
pub struct TreeBuilder {
    /// A path's shape (`/pets/{}`) → the first resource with it.
    shapes: std::collections::HashMap<String, usize>,
    paths: Vec<(Vec<Segment>, usize)>,
}

impl TreeBuilder {
    /// Adds resource number `id`. Fails with the id of an earlier resource with the same
    /// shape (`/pets/{id}` and `/pets/{petId}` are the same resource).
    pub fn add(&mut self, segments: Vec<Segment>, id: usize) -> Result<(), usize> {
        let mut shape = String::new();
        for seg in &segments {
            shape.push('/');
            match seg {
                Segment::Literal(l) => shape.push_str(l),
                Segment::Param(_) => shape.push_str("{}"),
                Segment::Greedy(_) => shape.push_str("{+}"),
            }
        }
        match self.shapes.entry(shape) {
            std::collections::hash_map::Entry::Occupied(o) => Err(*o.get()),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(id);
                self.paths.push((segments, id));
                Ok(())
            }
        }
    }

    pub fn build(mut self) -> ResourceTree {
        fn rank(s: &Segment) -> (u8, &str) {
            match s {
                Segment::Literal(l) => (0, l),
                Segment::Param(_) => (1, ""),
                Segment::Greedy(_) => (2, ""),
            }
        }
        self.paths
            .sort_unstable_by(|(a, _), (b, _)| a.iter().map(rank).cmp(b.iter().map(rank)));
        let mut tree = ResourceTree::default();
        for (segments, id) in &self.paths {
            tree.insert(segments, *id);
        }
        tree
    }
}

impl ResourceTree {
    /// Adds resource number `id`. [`TreeBuilder`] has already refused a second path of the
    /// same shape, so no node is taken twice.
    fn insert(&mut self, segments: &[Segment], id: usize) {
        let mut node = &mut self.root;
        for seg in segments {
            node = match seg {
                Segment::Literal(lit) => {
                    let pos = match node.literals.binary_search_by(|(k, _)| (**k).cmp(lit)) {
                        Ok(pos) => pos,
                        Err(pos) => {
                            node.literals
                                .insert(pos, (lit.as_str().into(), Node::default()));
                            pos
                        }
                    };
                    &mut node.literals[pos].1
                }
                Segment::Param(_) => node.param.get_or_insert_with(Box::default),
                Segment::Greedy(_) => {
                    node.greedy = Some(id);
                    return;
                }
            };
        }
        node.resource = Some(id);
    }

    /// Finds the most specific resource for `path[start..]` for which `pick` finds a method.
    ///
    /// `path[start..]` is empty or starts with `/`. Returns the resource id and what `pick`
    /// returned; `params` receives the parameter spans (absolute offsets into `path`).
    pub fn find<M>(
        &self,
        path: &str,
        start: usize,
        pick: &mut impl FnMut(usize) -> Option<M>,
        params: &mut ParamSpans,
    ) -> Option<(usize, M)> {
        let mut end = path.len();
        if end > start + 1 && path.ends_with('/') {
            end -= 1;
        }
        if end == start + 1 {
            end = start; // a lone `/` is the root
        }
        walk(&self.root, path, start, end, pick, params)
    }
}

fn walk<M>(
    node: &Node,
    path: &str,
    pos: usize,
    end: usize,
    pick: &mut impl FnMut(usize) -> Option<M>,
    params: &mut ParamSpans,
) -> Option<(usize, M)> {
    if pos >= end {
        let r = node.resource?;
        return pick(r).map(|m| (r, m));
    }
    if path.as_bytes().get(pos) != Some(&b'/') {
        return None;
    }
    let seg_start = pos + 1;
    let seg_end = path[seg_start..end]
        .find('/')
        .map_or(end, |i| seg_start + i);
    let seg = &path[seg_start..seg_end];
    if seg.is_empty() {
        return None;
    }
    if let Ok(i) = node.literals.binary_search_by(|(k, _)| (**k).cmp(seg)) {
        if let Some(found) = walk(&node.literals[i].1, path, seg_end, end, pick, params) {
            return Some(found);
        }
    }
    if let Some(child) = &node.param {
        params.push((seg_start as u32, seg_end as u32));
        if let Some(found) = walk(child, path, seg_end, end, pick, params) {
            return Some(found);
        }
        params.pop();
    }
    if let Some(r) = node.greedy {
        if let Some(m) = pick(r) {
            params.push((seg_start as u32, end as u32));
            return Some((r, m));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&str]) -> ResourceTree {
        let mut t = TreeBuilder::default();
        for (i, p) in paths.iter().enumerate() {
            t.add(parse_resource_path(p).unwrap(), i).unwrap();
        }
        t.build()
    }

    fn find(t: &ResourceTree, path: &str) -> Option<(usize, Vec<String>)> {
        let mut params = ParamSpans::new();
        t.find(path, 0, &mut |_| Some(()), &mut params)
            .map(|(r, ())| {
                let values = params
                    .iter()
                    .map(|&(s, e)| path[s as usize..e as usize].to_owned())
                    .collect();
                (r, values)
            })
    }

    #[test]
    fn literal_beats_param_beats_greedy() {
        let t = tree(&["/pets/mine", "/pets/{id}", "/pets/{proxy+}", "/"]);
        assert_eq!(find(&t, "/pets/mine"), Some((0, vec![])));
        assert_eq!(find(&t, "/pets/7"), Some((1, vec!["7".into()])));
        assert_eq!(
            find(&t, "/pets/7/toys/1"),
            Some((2, vec!["7/toys/1".into()]))
        );
        assert_eq!(find(&t, "/"), Some((3, vec![])));
        assert_eq!(find(&t, ""), Some((3, vec![])));
        assert_eq!(find(&t, "/pets"), None);
    }

    #[test]
    fn backtracks_when_the_specific_branch_dead_ends() {
        let t = tree(&["/a/b/c", "/a/{x}/d"]);
        assert_eq!(find(&t, "/a/b/d"), Some((1, vec!["b".into()])));
    }

    #[test]
    fn backtracks_when_the_specific_resource_lacks_the_method() {
        let t = tree(&["/pets", "/{proxy+}"]);
        let mut params = ParamSpans::new();
        let only_greedy = &mut |r: usize| (r == 1).then_some(());
        assert_eq!(
            t.find("/pets", 0, only_greedy, &mut params).map(|(r, _)| r),
            Some(1)
        );
        assert_eq!(params.as_slice(), &[(1, 5)]);
    }

    #[test]
    fn trailing_slash_is_ignored_and_empty_segments_do_not_match() {
        let t = tree(&["/pets/{id}", "/pets"]);
        assert_eq!(find(&t, "/pets/"), Some((1, vec![])));
        assert_eq!(find(&t, "/pets/9/"), Some((0, vec!["9".into()])));
        assert_eq!(find(&t, "/pets//"), None);
    }

    #[test]
    fn greedy_needs_at_least_one_segment() {
        let t = tree(&["/{proxy+}"]);
        assert_eq!(find(&t, "/"), None);
        assert_eq!(find(&t, "/x"), Some((0, vec!["x".into()])));
    }

    #[test]
    fn find_respects_the_start_offset() {
        let t = tree(&["/pets/{id}"]);
        let mut params = ParamSpans::new();
        let path = "/prod/pets/42";
        let found = t.find(path, 5, &mut |_| Some(()), &mut params);
        assert_eq!(found.map(|(r, _)| r), Some(0));
        assert_eq!(params.as_slice(), &[(11, 13)]);
    }

    #[test]
    fn same_shape_with_other_names_is_a_duplicate() {
        let mut t = TreeBuilder::default();
        t.add(parse_resource_path("/pets/{id}").unwrap(), 0)
            .unwrap();
        t.add(parse_resource_path("/files/{p+}").unwrap(), 1)
            .unwrap();
        assert_eq!(
            t.add(parse_resource_path("/pets/{petId}").unwrap(), 2),
            Err(0)
        );
        assert_eq!(
            t.add(parse_resource_path("/files/{rest+}").unwrap(), 3),
            Err(1)
        );
        let tree = t.build();
        assert_eq!(find(&tree, "/pets/1"), Some((0, vec!["1".into()])));
    }

    /// Siblings in any order (here reversed, and numbered so that text order differs from
    /// the order they came in) are each found as their own resource.
    #[test]
    fn many_siblings_in_any_order_are_each_found() {
        let paths: Vec<String> = (0..2000).rev().map(|i| format!("/r{i}/{{id}}")).collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let t = tree(&refs);
        for (i, p) in paths.iter().enumerate() {
            let request = p.replace("{id}", "x");
            assert_eq!(find(&t, &request), Some((i, vec!["x".into()])), "{request}");
        }
    }

    #[test]
    fn bad_paths_are_explained() {
        assert!(parse_resource_path("pets")
            .unwrap_err()
            .contains("starting with `/`"));
        assert!(parse_resource_path("/{proxy+}/x")
            .unwrap_err()
            .contains("last segment"));
        assert!(parse_resource_path("/a//b")
            .unwrap_err()
            .contains("non-empty"));
        assert!(parse_resource_path("/{a}/{a}")
            .unwrap_err()
            .contains("twice"));
        assert!(parse_resource_path("/{}")
            .unwrap_err()
            .contains("parameter"));
        assert!(parse_resource_path("/a b").unwrap_err().contains("` `"));
    }
}
