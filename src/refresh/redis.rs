//! [`RedisRefreshStore`]: refresh tokens shared by many instances through Redis (cargo
//! feature `redis`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::BoxFuture;
use ::redis::AsyncCommands;
use ::redis::aio::ConnectionManager;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::store::slot_tag_of;
use super::{Consumed, RefreshRecord, RefreshStore, Rotation, late};
use crate::error::BoxError;
use crate::error::ConfigError;
use crate::redis::{Connection, cluster_constructor, store_constructors};
use crate::revocation::RedisRevocationStore;

/// The key prefix of refresh tokens when none is configured.
pub const DEFAULT_REDIS_REFRESH_PREFIX: &str = "tower-jwt-auth:refresh:";

/// Rotates a token in one atomic step. KEYS[1]: the presented token's key; KEYS[2]: its
/// successor's; KEYS[3]: the family's revocation; KEYS[4]: the subject's. ARGV: the family,
/// now (s), the deadline (ms), the reuse grace (s), the successor's record as JSON and its
/// TTL (s), the subject. A token of another family or subject than the successor's is
/// `{'unknown'}`. Returns `{'late'}` (nothing done: Redis ran it
/// after the caller gave up), `{'unknown'}`, `{'revoked'}`, `{'reused', family, subject}`
/// (after revoking the family for the rest of its life) or `{'fresh', record}`.
///
/// The deadline is compared with Redis's own clock (`TIME`): the application's and Redis's
/// clocks must agree to well within half the backend timeout (NTP does).
///
/// Every key it touches is declared; on a cluster they share one slot (see
/// `RedisRefreshStore`). The successor a regrant reads is a key named in the token's record,
/// of the same family, so of the same slot.
const ROTATE_SCRIPT: &str = r"
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[3]) then
    return {'late'}
end
local f = redis.call('HMGET', KEYS[1], 'state', 'family', 'sub', 'family_iat', 'exp', 'record',
    'consumed_at', 'successor', 'regranted')
if not f[1] then return {'unknown'} end
if f[2] ~= ARGV[1] or f[3] ~= ARGV[7] then return {'unknown'} end
local now = tonumber(ARGV[2])
local exp = tonumber(f[5])
if exp <= now then return {'unknown'} end
local family_key = KEYS[3]
local regrant = false
if f[1] == 'consumed' then
    local grace = tonumber(ARGV[4])
    if grace > 0 and f[9] ~= '1' and f[7] and now - tonumber(f[7]) <= grace and f[8]
        and redis.call('HGET', f[8], 'state') == 'active' then
        regrant = true
    else
        local ttl = exp - now
        if redis.call('TTL', family_key) < ttl then
            redis.call('SET', family_key, '1', 'EX', ttl)
        end
        return {'reused', f[2], f[3]}
    end
end
if redis.call('EXISTS', family_key) == 1 then return {'revoked'} end
local before = tonumber(redis.call('GET', KEYS[4]))
if before and tonumber(f[4]) <= before then return {'revoked'} end
if regrant then
    redis.call('HSET', f[8], 'state', 'consumed', 'consumed_at', now, 'successor', KEYS[2],
        'regranted', '1')
    redis.call('HSET', KEYS[1], 'regranted', '1', 'successor', KEYS[2])
else
    redis.call('HSET', KEYS[1], 'state', 'consumed', 'consumed_at', now, 'successor', KEYS[2])
end
redis.call('HSET', KEYS[2], 'state', 'active', 'family', f[2], 'sub', f[3],
    'family_iat', f[4], 'exp', f[5], 'record', ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return {'fresh', f[6]}
";

/// Refresh tokens in Redis, shared by every instance of the application.
///
/// A token is a hash `<prefix>token:<sha256>` (its state, family, subject, expiry and the record
/// as JSON; never the token) that expires with the token (`EXPIRE`), so Redis forgets it on its
/// own; consuming it keeps it, marked consumed, until then, so a replay is recognised. A revoked
/// family is `<prefix>family:<family>`, a "log out everywhere" `<prefix>sub:<subject>`, each
/// expiring when no token it covers can be alive. Consuming is one Lua script, atomic in Redis:
/// of concurrent rotations of one token, exactly one wins.
///
/// Redis must not evict these keys, as for [`RedisRevocationStore`]: an evicted record would end
/// a session, an evicted family marker revive a revoked one. The same check refuses a Redis that
/// may evict.
///
/// On a Redis Cluster ([`connect_cluster`](Self::connect_cluster)) the keys of one subject
/// share a slot: refresh tokens and family ids start with a tag of the subject
/// ([`RefreshStore::slot_tag`]), and the keys carry it as their hash tag
/// (`<prefix>{<tag>}token:…`), so the rotation script's keys are all on one shard. On a single
/// Redis, keys and tokens are untagged.
///
/// Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct RedisRefreshStore {
    connection: Connection,
    prefix: Arc<str>,
}

impl fmt::Debug for RedisRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRefreshStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

store_constructors!(
    RedisRefreshStore,
    DEFAULT_REDIS_REFRESH_PREFIX,
    "token calls"
);
// Every key of a session carries the subject's slot tag on a cluster.
cluster_constructor!(RedisRefreshStore);

impl RedisRefreshStore {
    /// Shares the connection of a revocation store: one multiplexed connection for both, and
    /// one eviction check.
    pub fn sharing(revocations: &RedisRevocationStore) -> Self {
        Self::with_connection(revocations.connection())
    }

    /// The key of a token (by its hash) or a family: under the id's slot tag on a cluster.
    fn key(&self, kind: &str, id: &str) -> String {
        match slot_tag_of(id).filter(|_| self.connection.is_cluster()) {
            Some(tag) => format!("{}{{{tag}}}{kind}:{id}", self.prefix),
            None => format!("{}{kind}:{id}", self.prefix),
        }
    }

    /// The key of a subject's revocation: under the subject's slot tag on a cluster.
    fn subject_key(&self, subject: &str) -> String {
        match self.slot_tag(subject) {
            Some(tag) => format!("{}{{{tag}}}sub:{subject}", self.prefix),
            None => format!("{}sub:{subject}", self.prefix),
        }
    }
}

impl RefreshStore for RedisRefreshStore {
    fn slot_tag(&self, subject: &str) -> Option<String> {
        self.connection.is_cluster().then(|| {
            let digest = crate::crypto::sha256(&[subject.as_bytes()]);
            URL_SAFE_NO_PAD.encode(&digest[..6])
        })
    }

    fn insert<'a>(&'a self, record: &'a RefreshRecord) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let json = serde_json::to_string(record)?;
            let key = self.key("token", record.token_hash());
            let mut connection = self.connection.ready().await?;
            let () = ::redis::pipe()
                .atomic()
                .hset_multiple(
                    &key,
                    &[
                        ("state", "active"),
                        ("family", record.family()),
                        ("sub", record.subject()),
                        ("family_iat", &record.family_issued_at().to_string()),
                        ("exp", &record.expires_at().to_string()),
                        ("record", &json),
                    ],
                )
                .ignore()
                .expire(&key, record.ttl().as_secs() as i64)
                .ignore()
                .query_async(&mut connection)
                .await?;
            Ok(())
        })
    }

    fn rotate<'a>(
        &'a self,
        rotation: &'a Rotation<'a>,
    ) -> BoxFuture<'a, Result<Consumed, BoxError>> {
        Box::pin(async move {
            let successor = rotation.successor;
            let json = serde_json::to_string(successor)?;
            let mut connection = self.connection.ready().await?;
            let reply: Vec<String> = ::redis::cmd("EVAL")
                .arg(ROTATE_SCRIPT)
                .arg(4)
                .arg(self.key("token", rotation.token_hash))
                .arg(self.key("token", successor.token_hash()))
                .arg(self.key("family", successor.family()))
                .arg(self.subject_key(successor.subject()))
                .arg(successor.family())
                .arg(rotation.now)
                .arg(rotation.deadline_ms)
                .arg(rotation.reuse_grace.as_secs())
                .arg(json)
                .arg(successor.ttl().as_secs())
                .arg(successor.subject())
                .query_async(&mut connection)
                .await?;
            match reply.as_slice() {
                [state] if state == "late" => Err(late()),
                [state] if state == "unknown" => Ok(Consumed::Unknown),
                [state] if state == "revoked" => Ok(Consumed::Revoked),
                [state, family, subject] if state == "reused" => Ok(Consumed::Reused {
                    family: family.clone(),
                    subject: subject.clone(),
                }),
                [state, record] if state == "fresh" => {
                    Ok(Consumed::Fresh(serde_json::from_str(record)?))
                }
                _ => Err("unexpected reply from the refresh token script".into()),
            }
        })
    }

    fn find<'a>(
        &'a self,
        token_hash: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Option<RefreshRecord>, BoxError>> {
        Box::pin(async move {
            let mut connection = self.connection.ready().await?;
            let record: Option<String> = connection
                .hget(self.key("token", token_hash), "record")
                .await?;
            let record = record
                .map(|json| serde_json::from_str::<RefreshRecord>(&json))
                .transpose()?;
            Ok(record.filter(|record| record.expires_at() > now))
        })
    }

    fn revoke_family<'a>(
        &'a self,
        family: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(self.connection.keep_longer(self.key("family", family), ttl))
    }

    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        before: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(
            self.connection
                .keep_later(self.subject_key(subject), before, ttl),
        )
    }
}
