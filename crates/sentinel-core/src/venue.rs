//! Venue categories (场所类别) from the Suzhou notice, their supervising departments and defaults, and
//! the kinds of entrance devices.

/// The supervising department of a category (行业主管部门): "谁主管、谁负责".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Department {
    pub code: &'static str,
    pub label_zh: &'static str,
    pub label_en: &'static str,
}

const COMMERCE: Department =
    Department { code: "commerce", label_zh: "商务局", label_en: "Bureau of Commerce" };
const MARKET: Department = Department {
    code: "market_regulation",
    label_zh: "市场监督管理局",
    label_en: "Market Regulation Administration",
};
const GOV_SERVICES: Department = Department {
    code: "gov_services",
    label_zh: "政务服务管理办公室",
    label_en: "Government Services Office",
};
const TOURISM: Department = Department {
    code: "culture_tourism",
    label_zh: "文化广电和旅游局",
    label_en: "Culture, Radio, TV and Tourism Bureau",
};
const TRANSPORT: Department =
    Department { code: "transport", label_zh: "交通运输局", label_en: "Transport Bureau" };
const INDUSTRY: Department = Department {
    code: "industry_it",
    label_zh: "工业和信息化局",
    label_en: "Industry and Information Technology Bureau",
};
const EDUCATION: Department =
    Department { code: "education", label_zh: "教育局", label_en: "Education Bureau" };
const HEALTH: Department =
    Department { code: "health", label_zh: "卫生健康委员会", label_en: "Health Commission" };
const HOUSING: Department = Department {
    code: "housing",
    label_zh: "住房和城乡建设局",
    label_en: "Housing and Urban-Rural Development Bureau",
};

/// How a category's entrances are checked, per the notice's articles 2 and 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryMode {
    /// Crowded places that can afford it must run dedicated scanning devices (第二条).
    Device,
    /// Small places post a place code (场所码) at the entrance (第三条).
    PlaceCode,
}

macro_rules! categories {
    ($( $variant:ident => $code:literal, $zh:literal, $en:literal, $dept:expr, $mode:ident, $stay:literal; )*) => {
        /// A venue category with its labels, department, entry mode and default stay.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum VenueCategory { $($variant),* }

        impl VenueCategory {
            pub const ALL: &'static [VenueCategory] = &[$(VenueCategory::$variant),*];

            /// Its position in [`VenueCategory::ALL`], for tables indexed by category.
            pub const fn index(self) -> usize { self as usize }

            /// Stable machine code used in the API and storage.
            pub fn code(self) -> &'static str { match self { $(VenueCategory::$variant => $code),* } }
            pub fn label_zh(self) -> &'static str { match self { $(VenueCategory::$variant => $zh),* } }
            pub fn label_en(self) -> &'static str { match self { $(VenueCategory::$variant => $en),* } }
            pub fn department(self) -> Department { match self { $(VenueCategory::$variant => $dept),* } }
            pub fn entry_mode(self) -> EntryMode { match self { $(VenueCategory::$variant => EntryMode::$mode),* } }
            /// Minutes a visit lasts when nobody checks out; tracing uses it for entry-only scans.
            pub fn default_stay_minutes(self) -> u16 { match self { $(VenueCategory::$variant => $stay),* } }

            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some(VenueCategory::$variant),)* _ => None }
            }
        }
    };
}

categories! {
    AdminHall => "admin_hall", "行政办事大厅", "Government service hall", GOV_SERVICES, Device, 60;
    CommercialComplex => "commercial_complex", "商业综合体", "Shopping complex", COMMERCE, Device, 120;
    WetMarket => "wet_market", "农集贸市场", "Farmers' market", MARKET, Device, 30;
    Supermarket => "supermarket", "超市", "Supermarket", COMMERCE, Device, 40;
    ScenicSpot => "scenic_spot", "旅游景点", "Tourist attraction", TOURISM, Device, 180;
    ConvenienceStore => "convenience_store", "便利店", "Convenience store", COMMERCE, PlaceCode, 10;
    Restaurant => "restaurant", "餐饮店", "Restaurant", MARKET, PlaceCode, 60;
    FruitShop => "fruit_shop", "水果店", "Fruit shop", MARKET, PlaceCode, 10;
    Bus => "bus", "公交车", "Bus", TRANSPORT, PlaceCode, 25;
    TourBoat => "tour_boat", "旅游船", "Tour boat", TRANSPORT, PlaceCode, 60;
    Office => "office", "办公楼/企业", "Office / enterprise", INDUSTRY, Device, 480;
    School => "school", "学校", "School", EDUCATION, Device, 420;
    Hospital => "hospital", "医院", "Hospital", HEALTH, Device, 120;
    Residential => "residential", "居民小区", "Residential compound", HOUSING, PlaceCode, 720;
}

/// The kinds of entrance devices from the vendor description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// 立式“六合一”数字哨兵: code, ID card, face/mask, thermometer, gate relay, speaker.
    Sentinel,
    /// 手持式健康核验终端.
    Handheld,
    /// 挂壁式扫码设备.
    WallScanner,
}

impl DeviceKind {
    pub const ALL: [DeviceKind; 3] = [DeviceKind::Sentinel, DeviceKind::Handheld, DeviceKind::WallScanner];

    pub fn code(self) -> &'static str {
        match self {
            DeviceKind::Sentinel => "sentinel",
            DeviceKind::Handheld => "handheld",
            DeviceKind::WallScanner => "wall_scanner",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            DeviceKind::Sentinel => "数字哨兵",
            DeviceKind::Handheld => "手持核验终端",
            DeviceKind::WallScanner => "壁挂扫码设备",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// What an operator may type for a kind: the code in any case with `-` or spaces for `_`, the Chinese
    /// label, or the names vendors and notices use for the same machine (闸机 gate, 测温门 …).
    pub fn parse(input: &str) -> Option<Self> {
        let key = input.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Self::from_code(&key).or_else(|| Self::ALL.into_iter().find(|k| k.label_zh() == key)).or(
            match key.as_str() {
                "digital_sentinel" | "gate" | "turnstile" | "kiosk" | "哨兵" | "闸机" | "测温门"
                | "六合一" => Some(DeviceKind::Sentinel),
                "handheld_verifier" | "pda" | "mobile" | "手持" | "手持终端" => {
                    Some(DeviceKind::Handheld)
                }
                "wall" | "wall_mounted" | "scanner" | "code_scanner" | "壁挂" | "扫码设备" => {
                    Some(DeviceKind::WallScanner)
                }
                _ => None,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_round_trips_and_follows_the_notice() {
        assert_eq!(VenueCategory::ALL.len(), 14);
        for c in VenueCategory::ALL {
            assert_eq!(VenueCategory::from_code(c.code()), Some(*c));
            assert!(c.default_stay_minutes() > 0);
            assert_eq!(VenueCategory::ALL[c.index()], *c);
        }
        assert_eq!(VenueCategory::WetMarket.entry_mode(), EntryMode::Device);
        assert_eq!(VenueCategory::FruitShop.entry_mode(), EntryMode::PlaceCode);
        assert_eq!(VenueCategory::Bus.department().label_zh, "交通运输局");
        assert_eq!(VenueCategory::from_code("casino"), None);
        for k in DeviceKind::ALL {
            assert_eq!((DeviceKind::parse(k.code()), DeviceKind::parse(k.label_zh())), (Some(k), Some(k)));
        }
        assert_eq!(DeviceKind::parse(" Wall-Scanner "), Some(DeviceKind::WallScanner));
        assert_eq!(DeviceKind::parse("gate"), Some(DeviceKind::Sentinel));
        assert_eq!(DeviceKind::parse("闸机"), Some(DeviceKind::Sentinel));
        assert_eq!(DeviceKind::parse("toaster"), None);
    }
}
