//! The storage contract: every case runs against SQLite and PostgreSQL alike.

mod common;

use common::*;
use sentinel_core::*;
use sentinel_store::*;

mod cases {
    use super::*;

    pub async fn regions_form_a_tree(s: &dyn Store) {
        seed_regions(s).await;
        let top = s.list_regions(None).await.unwrap();
        assert_eq!(top.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(), ["320000"]);
        let districts = s.list_regions(Some(&rc("320500"))).await.unwrap();
        assert_eq!(districts.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(), ["320506", "320508"]);
        s.upsert_regions(&[Region {
            code: rc("320508"),
            name_zh: "姑苏区".into(),
            name_en: Some("Gusu".into()),
        }])
        .await
        .unwrap();
        assert_eq!(s.get_region(&rc("320508")).await.unwrap().name_en.as_deref(), Some("Gusu"));
        assert!(matches!(s.get_region(&rc("320509")).await, Err(StoreError::NotFound)));
    }

    pub async fn venues_filter_paginate_update_delete(s: &dyn Store) {
        seed_regions(s).await;
        let a = s
            .create_venue(&venue("平江菜市场", VenueCategory::WetMarket, "320508001001"), now())
            .await
            .unwrap();
        let b = s
            .create_venue(&venue("观前超市", VenueCategory::Supermarket, "320508001002"), now())
            .await
            .unwrap();
        let c = s
            .create_venue(&venue("长桥菜市场", VenueCategory::WetMarket, "320506001001"), now())
            .await
            .unwrap();
        assert_eq!(a.name, "平江菜市场");
        assert_eq!(a.created_at, now());
        let all = VenueFilter::default();
        let page1 = s.list_venues(&all, PageRequest::first(2)).await.unwrap();
        assert_eq!(page1.items.iter().map(|v| v.id).collect::<Vec<_>>(), [a.id, b.id]);
        let page2 = s.list_venues(&all, PageRequest { after: page1.next, limit: 2 }).await.unwrap();
        assert_eq!(page2.items.iter().map(|v| v.id).collect::<Vec<_>>(), [c.id]);
        assert_eq!(page2.next, None);

        let ids = |f: VenueFilter| async move {
            s.list_venues(&f, PageRequest::first(50))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|v| v.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(VenueFilter { region: Some(rc("320508")), ..Default::default() }).await, [a.id, b.id]);
        assert_eq!(
            ids(VenueFilter { category: Some(VenueCategory::WetMarket), ..Default::default() }).await,
            [a.id, c.id]
        );
        assert_eq!(
            ids(VenueFilter { text: Some("菜市场".into()), ..Default::default() }).await,
            [a.id, c.id]
        );
        assert_eq!(ids(VenueFilter { text: Some("观前超市路".into()), ..Default::default() }).await, [b.id]);
        assert_eq!(
            ids(VenueFilter { text: Some("%".into()), ..Default::default() }).await,
            Vec::<VenueId>::new()
        );
        assert_eq!(ids(VenueFilter { scope: Some(Scope::Venue(b.id)), ..Default::default() }).await, [b.id]);
        assert_eq!(
            ids(VenueFilter { scope: Some(Scope::Region(rc("320506"))), ..Default::default() }).await,
            [c.id]
        );
        assert_eq!(
            ids(VenueFilter {
                scope: Some(Scope::Category(VenueCategory::Supermarket)),
                ..Default::default()
            })
            .await,
            [b.id]
        );

        let later = now() + chrono::Duration::minutes(5);
        let updated = s
            .update_venue(
                a.id,
                &VenueUpdate {
                    name: Some("平江农贸市场".into()), capacity: Some(300), ..Default::default()
                },
                later,
            )
            .await
            .unwrap();
        assert_eq!(
            (updated.name.as_str(), updated.capacity, updated.address.as_str()),
            ("平江农贸市场", Some(300), "平江菜市场路1号")
        );
        assert_eq!(updated.updated_at, later);
        let mut both = s.get_venues(&[b.id, a.id, VenueId(999_999)]).await.unwrap();
        both.sort_by_key(|v| v.id);
        assert_eq!(both.iter().map(|v| v.id).collect::<Vec<_>>(), [a.id, b.id], "several at once");
        assert_eq!(both[0], updated);
        s.delete_venue(a.id, later).await.unwrap();
        assert!(matches!(s.get_venue(a.id).await, Err(StoreError::NotFound)));
        assert_eq!(s.get_venues(&[a.id]).await.unwrap(), [], "not a deleted one");
        assert!(matches!(s.delete_venue(a.id, later).await, Err(StoreError::NotFound)));
        assert!(matches!(
            s.update_venue(a.id, &VenueUpdate::default(), later).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(ids(VenueFilter::default()).await, [b.id, c.id]);
        let unknown_region =
            s.create_venue(&venue("无名店", VenueCategory::Restaurant, "320508009"), now()).await;
        assert!(matches!(unknown_region, Err(StoreError::Reference(_))), "{unknown_region:?}");
        assert_eq!(
            s.create_venues(&[venue("店1", VenueCategory::FruitShop, "320508001")], now()).await.unwrap(),
            1
        );
    }

    pub async fn persons_are_found_by_blind_index(s: &dyn Store) {
        seed_regions(s).await;
        let id1 = id_number("320508", 1980, 11);
        let id2 = id_number("320506", 2015, 12);
        let id3 = id_number("320506", 1950, 13);
        let p1 =
            s.create_person(&person(&id1, "张三", Some("13812345678"), "320508001001"), now()).await.unwrap();
        let p2 = s
            .create_person(&person(&id2, "欧阳娜娜", Some("13812345678"), "320508001002"), now())
            .await
            .unwrap();
        let p3 = s.create_person(&person(&id3, "李四", None, "320506001001"), now()).await.unwrap();
        assert_eq!(p1.name.as_str(), "张三");
        assert_eq!(p1.id_number.as_str(), id1);
        assert_eq!(p3.phone, None);

        let by_id =
            s.find_person_by_id_number(&ResidentIdNumber::parse(&id2, today()).unwrap()).await.unwrap();
        assert_eq!(by_id.map(|p| p.id), Some(p2.id));
        let unknown = ResidentIdNumber::parse(&id_number("320508", 1990, 99), today()).unwrap();
        assert_eq!(s.find_person_by_id_number(&unknown).await.unwrap(), None);
        let family = s.find_persons_by_phone(&PhoneNumber::parse("13812345678").unwrap()).await.unwrap();
        assert_eq!(family.iter().map(|p| p.id).collect::<Vec<_>>(), [p1.id, p2.id]);

        let dup = s.create_person(&person(&id1, "张三", None, "320508001001"), now()).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        assert_eq!(s.get_person(p2.id).await.unwrap(), p2);
        // Several at once: those that exist, decrypted like one by one.
        let mut some = s.get_persons(&[p3.id, p1.id, PersonId(999_999)]).await.unwrap();
        some.sort_by_key(|p| p.id);
        assert_eq!(some, [p1.clone(), p3.clone()]);
        assert_eq!(s.get_persons(&[]).await.unwrap(), []);

        let gusu = s.list_persons(Some(&rc("320508")), PageRequest::first(1)).await.unwrap();
        assert_eq!(gusu.items.iter().map(|p| p.id).collect::<Vec<_>>(), [p1.id]);
        let gusu2 =
            s.list_persons(Some(&rc("320508")), PageRequest { after: gusu.next, limit: 1 }).await.unwrap();
        assert_eq!(gusu2.items.iter().map(|p| p.id).collect::<Vec<_>>(), [p2.id]);
        assert_eq!(s.list_persons(None, PageRequest::first(10)).await.unwrap().items.len(), 3);

        let id4 = id_number("320508", 1970, 14);
        let batch = [person(&id1, "张三", None, "320508001001"), person(&id4, "王五", None, "320508001001")];
        assert_eq!(s.create_persons(&batch, now()).await.unwrap(), 1, "the existing person is skipped");
        assert_eq!(s.create_persons(&batch, now()).await.unwrap(), 0, "bulk insert is idempotent");
    }

    pub async fn devices_belong_to_live_venues(s: &dyn Store) {
        seed_regions(s).await;
        let v1 = s
            .create_venue(&venue("平江菜市场", VenueCategory::WetMarket, "320508001001"), now())
            .await
            .unwrap();
        let v2 = s
            .create_venue(&venue("长桥超市", VenueCategory::Supermarket, "320506001001"), now())
            .await
            .unwrap();
        let new = |venue_id, serial: &str| NewDevice {
            venue_id,
            kind: DeviceKind::Sentinel,
            serial: serial.into(),
            name: "东门哨兵".into(),
        };
        let d1 = s.create_device(&new(v1.id, "SN-1"), now()).await.unwrap();
        let d2 = s.create_device(&new(v2.id, "SN-2"), now()).await.unwrap();
        assert_eq!((d1.venue_id, d1.kind, d1.serial.as_str()), (v1.id, DeviceKind::Sentinel, "SN-1"));
        assert_eq!(s.get_device(d1.id).await.unwrap(), d1);
        assert!(matches!(s.get_device(DeviceId(999)).await, Err(StoreError::NotFound)));
        assert!(matches!(s.create_device(&new(v1.id, "SN-1"), now()).await, Err(StoreError::Conflict(_))));
        assert!(matches!(
            s.create_device(&new(VenueId(999), "SN-3"), now()).await,
            Err(StoreError::Reference(_))
        ));
        let list = |f: VenueFilter, v| async move {
            s.list_devices(&f, v, PageRequest::first(10))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|d| d.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(list(VenueFilter::default(), None).await, [d1.id, d2.id]);
        assert_eq!(list(VenueFilter::default(), Some(v2.id)).await, [d2.id]);
        assert_eq!(
            list(VenueFilter { scope: Some(Scope::Region(rc("320508"))), ..Default::default() }, None).await,
            [d1.id]
        );
        s.delete_venue(v2.id, now()).await.unwrap();
        assert!(matches!(s.create_device(&new(v2.id, "SN-4"), now()).await, Err(StoreError::Reference(_))));
    }

    pub async fn users_and_tokens(s: &dyn Store) {
        seed_regions(s).await;
        assert_eq!(s.count_users().await.unwrap(), 0);
        let new = |name: &str, role, scope| NewUser {
            username: name.into(),
            password_hash: "$argon2id$placeholder".into(),
            role,
            scope,
            display_name: Some("测试".into()),
        };
        let admin = s.create_user(&new("admin", Role::Admin, Scope::All), now()).await.unwrap();
        let grid = s
            .create_user(&new("grid1", Role::GridWorker, Scope::Region(rc("320508001001"))), now())
            .await
            .unwrap();
        assert_eq!(grid.scope, Scope::Region(rc("320508001001")));
        assert!(matches!(
            s.create_user(&new("admin", Role::Auditor, Scope::All), now()).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.get_user_by_username("grid1").await.unwrap().map(|u| u.id), Some(grid.id));
        assert_eq!(s.get_user_by_username("nobody").await.unwrap(), None);
        assert_eq!(s.get_user(admin.id).await.unwrap().role, Role::Admin);
        assert_eq!(s.count_users().await.unwrap(), 2);
        let p = s.list_users(PageRequest::first(1)).await.unwrap();
        assert_eq!((p.items[0].id, p.next), (admin.id, Some(admin.id.0)));

        let token = AuthToken {
            token_hash: vec![7; 32],
            user_id: grid.id,
            kind: TokenKind::Session,
            name: None,
            csrf_token: Some("csrf".into()),
            created_at: now(),
            expires_at: Some(now() + chrono::Duration::hours(8)),
        };
        s.create_token(&token).await.unwrap();
        let (found, user) = s.find_token(&[7; 32]).await.unwrap().unwrap();
        assert_eq!((found, user.id), (token, grid.id));
        s.delete_token(&[7; 32]).await.unwrap();
        assert_eq!(s.find_token(&[7; 32]).await.unwrap(), None);
    }

    pub async fn audit_is_newest_first(s: &dyn Store) {
        for i in 0..3 {
            s.append_audit(&NewAudit {
                at: now() + chrono::Duration::seconds(i),
                actor: "grid1".into(),
                action: "person.unmask".into(),
                subject: Some(format!("person:{}", i % 2)),
                purpose: Some("核实身份".into()),
                detail: None,
                request_id: Some(format!("req-{i}")),
            })
            .await
            .unwrap();
        }
        let page = s.list_audit(&AuditFilter::default(), PageRequest::first(2)).await.unwrap();
        assert_eq!(
            page.items.iter().map(|a| a.request_id.clone().unwrap()).collect::<Vec<_>>(),
            ["req-2", "req-1"]
        );
        let rest =
            s.list_audit(&AuditFilter::default(), PageRequest { after: page.next, limit: 2 }).await.unwrap();
        assert_eq!(rest.items.iter().map(|a| a.request_id.clone().unwrap()).collect::<Vec<_>>(), ["req-0"]);
        assert_eq!(rest.next, None);
        let only = AuditFilter { subject: Some("person:1".into()), ..Default::default() };
        let one = s.list_audit(&only, PageRequest::first(10)).await.unwrap();
        assert_eq!(one.items.len(), 1);
        assert_eq!(one.items[0].purpose.as_deref(), Some("核实身份"));
        assert_eq!(one.items[0].at, now() + chrono::Duration::seconds(1));
    }

    pub async fn meta_values(s: &dyn Store) {
        assert_eq!(s.get_meta("demo.seed").await.unwrap(), None);
        s.set_meta("demo.seed", "1").await.unwrap();
        s.set_meta("demo.seed", "2").await.unwrap();
        assert_eq!(s.get_meta("demo.seed").await.unwrap().as_deref(), Some("2"));
        s.ping().await.unwrap();
        assert_eq!(s.schema_version().await.unwrap(), sentinel_store::SCHEMA_VERSION);
    }
}

contract!(
    regions_form_a_tree,
    venues_filter_paginate_update_delete,
    persons_are_found_by_blind_index,
    devices_belong_to_live_venues,
    users_and_tokens,
    audit_is_newest_first,
    meta_values,
);

/// Reopening runs no migration twice and keeps the data, on both backends.
async fn reopen_keeps_schema_and_data(url: &str) {
    let s = open_store(url).await;
    let version = s.schema_version().await.unwrap();
    s.set_meta("k", "v").await.unwrap();
    drop(s);
    let again = open_store(url).await;
    assert_eq!(again.schema_version().await.unwrap(), version);
    assert_eq!(again.get_meta("k").await.unwrap().as_deref(), Some("v"));
}

#[tokio::test]
async fn sqlite_reopen_keeps_schema_and_data() {
    let f = Fixture::sqlite();
    reopen_keeps_schema_and_data(&f.url).await;
}

#[tokio::test]
async fn postgres_reopen_keeps_schema_and_data() {
    let Some(f) = Fixture::postgres("postgres_reopen_keeps_schema_and_data").await else { return };
    reopen_keeps_schema_and_data(&f.url).await;
    f.finish().await;
}

/// The database file holds no name, ID number, phone or address in clear.
#[tokio::test]
async fn sqlite_file_holds_no_personal_data_in_clear() {
    let f = Fixture::sqlite();
    let s = open_store(&f.url).await;
    seed_regions(&*s).await;
    let id = id_number("320508", 1961, 21);
    s.create_person(&person(&id, "诸葛孔明", Some("13912345678"), "320508001001"), now()).await.unwrap();
    drop(s);
    let dir = f._dir.as_ref().unwrap().path();
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("平江社区"), "the scan itself must see clear text that is not personal");
    for secret in [id.as_str(), &id[6..14], "诸葛孔明", "13912345678", "平江路100号"] {
        assert!(!contains(secret), "{secret} found in clear in the SQLite files");
    }
}

#[tokio::test]
async fn a_wrong_key_cannot_read_persons() {
    let f = Fixture::sqlite();
    let s = open_store(&f.url).await;
    seed_regions(&*s).await;
    let p = s
        .create_person(&person(&id_number("320508", 1961, 21), "张三", None, "320508001001"), now())
        .await
        .unwrap();
    drop(s);
    let other = sentinel_store::open(&f.url, PersonalDataCipher::new(&DataKey::generate())).await.unwrap();
    assert!(matches!(other.get_person(p.id).await, Err(StoreError::Crypto)));
}

/// Many persons are located by ID number in one call, in input order.
async fn locate_persons_in_bulk(s: &dyn Store) {
    seed_regions(s).await;
    let a = id_number("320508", 1980, 41);
    let b = id_number("320506", 1990, 42);
    let missing = id_number("320506", 1991, 43);
    let pa = s.create_person(&person(&a, "甲", None, "320508001001"), now()).await.unwrap();
    let pb = s.create_person(&person(&b, "乙", None, "320506001001"), now()).await.unwrap();
    let ids: Vec<ResidentIdNumber> =
        [&b, &missing, &a].iter().map(|x| ResidentIdNumber::parse(x, today()).unwrap()).collect();
    let found = s.locate_persons(&ids).await.unwrap();
    assert_eq!(found, [Some((pb.id, rc("320506001001"))), None, Some((pa.id, rc("320508001001")))]);
}

#[tokio::test]
async fn sqlite_locate_persons_in_bulk() {
    let f = Fixture::sqlite();
    locate_persons_in_bulk(&*open_store(&f.url).await).await;
}

#[tokio::test]
async fn postgres_locate_persons_in_bulk() {
    let Some(f) = Fixture::postgres("postgres_locate_persons_in_bulk").await else { return };
    locate_persons_in_bulk(&*open_store(&f.url).await).await;
    f.finish().await;
}
