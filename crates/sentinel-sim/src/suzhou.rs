//! The demo city's geography: Suzhou's county-level divisions with their GB/T 2260 codes, real street
//! (街道) and town (镇) names, rough centroids, and some real sights. Codes below the district level
//! are assigned in order here; they are not the statistics bureau's.

/// A district or county-level city of Suzhou.
pub struct District {
    pub code: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub streets: &'static [&'static str],
    pub sights: &'static [&'static str],
    /// Whether tour boats run here (canals, lakes).
    pub water: bool,
}

pub const PROVINCE: (&str, &str, &str) = ("320000", "江苏省", "Jiangsu");
pub const CITY: (&str, &str, &str) = ("320500", "苏州市", "Suzhou");

pub const DISTRICTS: &[District] = &[
    District {
        code: "320505",
        name_zh: "虎丘区",
        name_en: "Huqiu",
        lat: 31.30,
        lon: 120.50,
        streets: &["狮山街道", "枫桥街道", "横塘街道", "浒墅关镇", "通安镇", "东渚街道", "镇湖街道"],
        sights: &["苏州乐园", "大阳山国家森林公园"],
        water: false,
    },
    District {
        code: "320506",
        name_zh: "吴中区",
        name_en: "Wuzhong",
        lat: 31.26,
        lon: 120.63,
        streets: &[
            "长桥街道",
            "郭巷街道",
            "越溪街道",
            "城南街道",
            "香山街道",
            "木渎镇",
            "甪直镇",
            "东山镇",
            "光福镇",
        ],
        sights: &["甪直古镇", "木渎古镇", "东山雕花楼", "光福香雪海"],
        water: true,
    },
    District {
        code: "320507",
        name_zh: "相城区",
        name_en: "Xiangcheng",
        lat: 31.37,
        lon: 120.64,
        streets: &[
            "元和街道",
            "太平街道",
            "北桥街道",
            "黄桥街道",
            "澄阳街道",
            "渭塘镇",
            "阳澄湖镇",
            "望亭镇",
            "黄埭镇",
        ],
        sights: &["阳澄湖半岛旅游度假区"],
        water: true,
    },
    District {
        code: "320508",
        name_zh: "姑苏区",
        name_en: "Gusu",
        lat: 31.31,
        lon: 120.62,
        streets: &[
            "平江街道",
            "沧浪街道",
            "双塔街道",
            "金阊街道",
            "虎丘街道",
            "白洋湾街道",
            "吴门桥街道",
            "苏锦街道",
        ],
        sights: &[
            "拙政园",
            "狮子林",
            "留园",
            "虎丘山风景名胜区",
            "平江路历史文化街区",
            "山塘街",
            "网师园",
            "沧浪亭",
        ],
        water: true,
    },
    District {
        code: "320509",
        name_zh: "吴江区",
        name_en: "Wujiang",
        lat: 31.14,
        lon: 120.64,
        streets: &[
            "松陵街道",
            "江陵街道",
            "横扇街道",
            "八坼街道",
            "同里镇",
            "平望镇",
            "盛泽镇",
            "震泽镇",
            "黎里镇",
        ],
        sights: &["同里古镇", "震泽古镇", "黎里古镇"],
        water: true,
    },
    District {
        code: "320571",
        name_zh: "苏州工业园区",
        name_en: "Suzhou Industrial Park",
        lat: 31.31,
        lon: 120.72,
        streets: &["娄葑街道", "斜塘街道", "唯亭街道", "胜浦街道", "金鸡湖街道"],
        sights: &["金鸡湖景区", "李公堤"],
        water: true,
    },
    District {
        code: "320581",
        name_zh: "常熟市",
        name_en: "Changshu",
        lat: 31.65,
        lon: 120.75,
        streets: &[
            "虞山街道",
            "琴川街道",
            "莫城街道",
            "常福街道",
            "碧溪街道",
            "梅李镇",
            "海虞镇",
            "古里镇",
            "沙家浜镇",
        ],
        sights: &["虞山尚湖风景区", "沙家浜风景区"],
        water: true,
    },
    District {
        code: "320582",
        name_zh: "张家港市",
        name_en: "Zhangjiagang",
        lat: 31.87,
        lon: 120.55,
        streets: &["杨舍镇", "塘桥镇", "金港街道", "锦丰镇", "乐余镇", "凤凰镇", "南丰镇", "大新镇"],
        sights: &["凤凰山景区", "永联小镇"],
        water: false,
    },
    District {
        code: "320583",
        name_zh: "昆山市",
        name_en: "Kunshan",
        lat: 31.38,
        lon: 120.98,
        streets: &[
            "玉山镇",
            "巴城镇",
            "周市镇",
            "陆家镇",
            "花桥镇",
            "淀山湖镇",
            "张浦镇",
            "周庄镇",
            "千灯镇",
            "锦溪镇",
        ],
        sights: &["周庄古镇", "千灯古镇", "锦溪古镇", "亭林园"],
        water: true,
    },
    District {
        code: "320585",
        name_zh: "太仓市",
        name_en: "Taicang",
        lat: 31.46,
        lon: 121.13,
        streets: &["城厢镇", "沙溪镇", "浏河镇", "浮桥镇", "璜泾镇", "双凤镇", "娄东街道", "陆渡街道"],
        sights: &["沙溪古镇", "郑和公园"],
        water: false,
    },
];

/// The part of a street's name before 街道/镇: `平江街道` → `平江`.
pub fn stem(street: &str) -> &str {
    street.strip_suffix("街道").or_else(|| street.strip_suffix('镇')).unwrap_or(street)
}

/// Second halves of community names (社区/村).
pub const COMMUNITY_STEMS: &[&str] = &[
    "新村", "花园", "东苑", "西苑", "南苑", "北苑", "桥", "湾", "港", "河", "塘", "里", "坊", "园", "泾",
    "浜",
];

/// Areas residents of the demo city come from beyond Suzhou (migrant workers): area codes of real counties.
pub const OTHER_AREAS: &[&str] = &[
    "341221", "341222", "340121", "411526", "411522", "410523", "511321", "511322", "510121", "320321",
    "320322", "321281", "330182", "420923", "430524", "360121",
];
