//! Reading PostgreSQL rows into the shared row types of [`crate::query`].

use tokio_postgres::Row;

use crate::query::*;

type R<T> = Result<T, tokio_postgres::Error>;

pub fn region_row(r: &Row) -> R<RegionRow> {
    Ok(RegionRow { code: r.try_get(0)?, name_zh: r.try_get(1)?, name_en: r.try_get(2)? })
}

pub fn venue_row(r: &Row) -> R<VenueRow> {
    venue_row_at(r, 0)
}

/// A venue's columns starting at column `at` (after a join).
pub fn venue_row_at(r: &Row, at: usize) -> R<VenueRow> {
    Ok(VenueRow {
        id: r.try_get(at)?,
        name: r.try_get(at + 1)?,
        category: r.try_get(at + 2)?,
        region_code: r.try_get(at + 3)?,
        address: r.try_get(at + 4)?,
        lat: r.try_get(at + 5)?,
        lon: r.try_get(at + 6)?,
        capacity: r.try_get(at + 7)?,
        created_at: r.try_get(at + 8)?,
        updated_at: r.try_get(at + 9)?,
        place_code_version: r.try_get(at + 10)?,
    })
}

pub fn person_row(r: &Row) -> R<PersonRow> {
    Ok(PersonRow {
        id: r.try_get(0)?,
        region_code: r.try_get(1)?,
        id_number_enc: r.try_get(2)?,
        name_enc: r.try_get(3)?,
        phone_enc: r.try_get(4)?,
        address_enc: r.try_get(5)?,
        created_at: r.try_get(6)?,
    })
}

/// A user's columns starting at column `at` (after a join).
pub fn user_row_at(r: &Row, at: usize) -> R<UserRow> {
    Ok(UserRow {
        id: r.try_get(at)?,
        username: r.try_get(at + 1)?,
        password_hash: r.try_get(at + 2)?,
        role: r.try_get(at + 3)?,
        scope: r.try_get(at + 4)?,
        display_name: r.try_get(at + 5)?,
        disabled: r.try_get(at + 6)?,
        created_at: r.try_get(at + 7)?,
    })
}

pub fn device_row(r: &Row) -> R<DeviceRow> {
    Ok(DeviceRow {
        id: r.try_get(0)?,
        venue_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        serial: r.try_get(3)?,
        name: r.try_get(4)?,
        created_at: r.try_get(5)?,
        token_active: r.try_get(6)?,
    })
}

pub fn token_row(r: &Row) -> R<TokenRow> {
    Ok(TokenRow {
        token_hash: r.try_get(0)?,
        user_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        name: r.try_get(3)?,
        csrf_token: r.try_get(4)?,
        created_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
    })
}

pub fn audit_row(r: &Row) -> R<AuditRow> {
    Ok(AuditRow {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        actor: r.try_get(2)?,
        action: r.try_get(3)?,
        subject: r.try_get(4)?,
        purpose: r.try_get(5)?,
        detail: r.try_get(6)?,
        request_id: r.try_get(7)?,
    })
}
