//! Reading SQLite rows into the shared row types of [`crate::query`].

use rusqlite::Row;

use crate::query::*;

pub fn region_row(r: &Row<'_>) -> rusqlite::Result<RegionRow> {
    Ok(RegionRow { code: r.get(0)?, name_zh: r.get(1)?, name_en: r.get(2)? })
}

pub fn venue_row(r: &Row<'_>) -> rusqlite::Result<VenueRow> {
    venue_row_at(r, 0)
}

/// A venue's columns starting at column `at` (after a join).
pub fn venue_row_at(r: &Row<'_>, at: usize) -> rusqlite::Result<VenueRow> {
    Ok(VenueRow {
        id: r.get(at)?,
        name: r.get(at + 1)?,
        category: r.get(at + 2)?,
        region_code: r.get(at + 3)?,
        address: r.get(at + 4)?,
        lat: r.get(at + 5)?,
        lon: r.get(at + 6)?,
        capacity: r.get(at + 7)?,
        created_at: r.get(at + 8)?,
        updated_at: r.get(at + 9)?,
        place_code_version: r.get(at + 10)?,
    })
}

pub fn person_row(r: &Row<'_>) -> rusqlite::Result<PersonRow> {
    Ok(PersonRow {
        id: r.get(0)?,
        region_code: r.get(1)?,
        id_number_enc: r.get(2)?,
        name_enc: r.get(3)?,
        phone_enc: r.get(4)?,
        address_enc: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub fn user_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    user_row_at(r, 0)
}

/// A user's columns starting at column `at` (after a join).
pub fn user_row_at(r: &Row<'_>, at: usize) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(at)?,
        username: r.get(at + 1)?,
        password_hash: r.get(at + 2)?,
        role: r.get(at + 3)?,
        scope: r.get(at + 4)?,
        display_name: r.get(at + 5)?,
        disabled: r.get(at + 6)?,
        created_at: r.get(at + 7)?,
    })
}

pub fn device_row(r: &Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok(DeviceRow {
        id: r.get(0)?,
        venue_id: r.get(1)?,
        kind: r.get(2)?,
        serial: r.get(3)?,
        name: r.get(4)?,
        created_at: r.get(5)?,
        token_active: r.get(6)?,
    })
}

pub fn token_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        token_hash: r.get(0)?,
        user_id: r.get(1)?,
        kind: r.get(2)?,
        name: r.get(3)?,
        csrf_token: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
    })
}

pub fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        subject: r.get(4)?,
        purpose: r.get(5)?,
        detail: r.get(6)?,
        request_id: r.get(7)?,
    })
}
