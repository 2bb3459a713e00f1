//! Plausible Chinese names: common surnames weighted by frequency, some compound, and given names of one
//! or two characters.

use rand::Rng;

/// Common surnames, most frequent first; the generator favours the front of the list.
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
    "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田",
    "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚",
    "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏", "韦", "方", "白", "邹",
    "孟", "熊", "秦", "邱", "江", "尹", "薛", "顾",
];
const COMPOUND_SURNAMES: &[&str] = &["欧阳", "司马", "诸葛", "上官", "慕容"];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "萍", "红", "建", "文", "辉", "宇", "浩", "欣", "怡",
    "梓", "涵", "子", "轩", "晨", "佳", "嘉", "俊", "雨", "思", "博", "婷", "雪", "琳", "鑫", "磊", "海",
    "波", "亮", "斌", "志", "春", "兰",
];

/// A random full name: surname (1 in 100 compound) and a one- or two-character given name.
pub fn full_name(rng: &mut impl Rng) -> String {
    let surname = if rng.gen_ratio(1, 100) {
        COMPOUND_SURNAMES[rng.gen_range(0..COMPOUND_SURNAMES.len())]
    } else {
        // Squaring a uniform draw skews toward the frequent surnames at the front.
        let u: f64 = rng.r#gen();
        SURNAMES[((u * u) * SURNAMES.len() as f64) as usize]
    };
    let mut name = surname.to_owned();
    let given_len = if rng.gen_ratio(3, 10) { 1 } else { 2 };
    for _ in 0..given_len {
        name.push_str(GIVEN[rng.gen_range(0..GIVEN.len())]);
    }
    name
}
