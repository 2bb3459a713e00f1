//! Device tokens resolved in memory for a short while, so a scan does not read the devices table. A token
//! replaced on this node stops at once; one replaced on another node within `TTL`.

use sentinel_store::{Device, Store, StoreError, Venue};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct DeviceCache {
    by_token: RwLock<HashMap<Vec<u8>, (Instant, Device, Venue)>>,
}

impl DeviceCache {
    pub async fn resolve(
        &self,
        store: &dyn Store,
        token_hash: &[u8],
    ) -> Result<Option<(Device, Venue)>, StoreError> {
        if let Some((at, d, v)) = self.by_token.read().unwrap_or_else(|p| p.into_inner()).get(token_hash)
            && at.elapsed() < TTL
        {
            return Ok(Some((d.clone(), v.clone())));
        }
        let found = store.device_by_token(token_hash).await?;
        if let Some((d, v)) = &found {
            self.by_token
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(token_hash.to_vec(), (Instant::now(), d.clone(), v.clone()));
        }
        Ok(found)
    }

    /// After a token is replaced or a venue changes.
    pub fn clear(&self) {
        self.by_token.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
