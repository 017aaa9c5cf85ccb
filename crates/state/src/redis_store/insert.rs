//! Creating a key or credential on Redis: the check that its name (and its value or access key
//! id) is free and the write, in one Lua script, so nodes creating one name at once cannot both
//! succeed.

use super::{err, RedisStore};
use crate::{StoreError, Taken};
use std::sync::LazyLock;

/// Stores ARGV[2] (JSON) as field ARGV[1] of the hash KEYS[1] and publishes `put` on the
/// channel KEYS[2] with the command ARGV[6] (`PUBLISH`, or `SPUBLISH` on a cluster), unless the field exists or a stored document's `name` is ARGV[3] or (when
/// ARGV[4] is not empty) its field ARGV[4] is ARGV[5]. Returns 0 (stored), 1 (the name is
/// taken) or 2 (the id is taken).
static INSERT_DOC: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 2 end
for _, json in ipairs(redis.call('HVALS', KEYS[1])) do
  local doc = cjson.decode(json)
  if doc['name'] == ARGV[3] then return 1 end
  if ARGV[4] ~= '' and doc[ARGV[4]] == ARGV[5] then return 2 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call(ARGV[6], KEYS[2], 'put')
return 0
",
    )
});

/// A document to create in one of the store's hashes.
pub(super) struct NewDoc<'a, T> {
    /// `keys` or `iam`.
    pub hash: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    /// Another field no two documents may share, and this document's value of it.
    pub unique: Option<(&'a str, &'a str)>,
    pub doc: &'a T,
}

impl RedisStore {
    /// Creates `new` unless its id, name or unique field is taken; tells every node.
    pub(super) fn insert_doc<T: serde::Serialize>(
        &self,
        new: NewDoc<'_, T>,
    ) -> Result<Option<Taken>, StoreError> {
        let json = serde_json::to_vec(new.doc).map_err(err)?;
        let (hash, channel) = (self.keys_key(new.hash), self.keys_key("keys:changed"));
        let (field, value) = new.unique.unwrap_or(("", ""));
        let mut invocation = INSERT_DOC.key(hash);
        invocation
            .key(channel)
            .arg(new.id)
            .arg(json)
            .arg(new.name)
            .arg(field)
            .arg(value)
            .arg(self.conn.publish_command());
        let answer: u8 = self.call(|mut c| async move { invocation.invoke_async(&mut c).await })?;
        Ok(match answer {
            0 => None,
            1 => Some(Taken::Name),
            _ => Some(Taken::Id),
        })
    }
}
