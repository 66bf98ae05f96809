/// Hashes made by Werkzeug 3.1 (`generate_password_hash`), with their passwords.
enum WerkzeugVectors {
    static let all: [(String, String)] = [
        (
            "pw-alice",
            "pbkdf2:sha256:600000$WSQSzHcyWk2TvEmm$ff35327a19cf4798afde0d7779c6bf52fecc095d81c260c6b754cb568325ea98"
        ),
        (
            "pw-alice",
            "scrypt:32768:8:1$jsQ1XDIkeMBtvCcB$2c55b58e55b3fd61f7acf6685b91df658e10c932bf582b801f5132a27263373f613bf400a1547cfa2f89320307f0b57e01e9f548ad3548c95e29206355805813"
        ),
        (
            "pw-bob",
            "pbkdf2:sha256:1000$ZGYERgvKnrAEXTIl$72e2bab7ef3c2e5a1769617e90159d60729faa727891f3638367819773187656"
        ),
        (
            "pw-bob",
            "pbkdf2:sha512:1000$UUCftSRdsYoYxytc$f00be3cdb51cb3149fa5c26485e77f1de96dd7fc6127ea083b0baab194d19d709d0788336d9f6658c9cb23367272ea8148b7fe656b0d4f72acf2019ed7662cb2"
        ),
        (
            "pw-ünï",
            "pbkdf2:sha256:1000$aVajxXgtKThHAlkO$cc17667acd12aed8be2f41b152fc0e0ef6effc57c98074baba48ec797e289cf0"
        ),
    ]
}
