import Foundation

extension ChatifyConfiguration {
    /// What to warn about at start: settings that work but are unsafe.
    public var warnings: [String] {
        var warnings: [String] = []
        if jwtSecretKey == Self.defaultJWTSecretKey {
            warnings.append(
                "JWT_SECRET_KEY is the published default: anyone can forge sign-in tokens. Set a long random secret.")
        }
        return warnings
    }

    /// The effective value of each variable in `variableNames`, in that order, with
    /// secrets masked so the output can be pasted into a ticket.
    public var effectiveValues: [(name: String, value: String)] {
        Self.variableNames.map { name in (name, effectiveValue(of: name) ?? "(unset)") }
    }

    private func effectiveValue(of name: String) -> String? {
        func seconds(_ duration: Duration?) -> String { duration.map { "\($0.components.seconds)" } ?? "0" }
        func flag(_ value: Bool) -> String { value ? "True" : "False" }
        switch name {
        case "SECRET_KEY": return Self.masked
        case "JWT_SECRET_KEY": return Self.masked
        case "JWT_TOKEN_LOCATION": return jwtTokenLocation.sorted().joined(separator: ",")
        case "JWT_ACCESS_COOKIE_PATH": return jwtAccessCookiePath
        case "JWT_ACCESS_COOKIE_NAME": return jwtAccessCookieName
        case "JWT_COOKIE_CSRF_PROTECT": return flag(jwtCookieCSRFProtect)
        case "JWT_ACCESS_TOKEN_EXPIRES": return "\(jwtAccessTokenExpires)"
        case "MONGODB_ATLAS_URI": return mongoAtlasURI.map(Self.maskingPassword(inURI:))
        case "MONGODB_LOCAL_URI": return Self.maskingPassword(inURI: mongoLocalURI)
        case "DATABASE_NAME": return databaseName
        case "USERS_COLLECTION": return usersCollection
        case "ROOMS_COLLECTION": return roomsCollection
        case "CORS_ALLOWED_ORIGINS": return corsAllowedOrigins
        case "HOST": return host
        case "PORT": return "\(port)"
        case "FLASK_DEBUG": return flag(debug)
        case "LOG_LEVEL": return logLevel.rawValue
        case "LOG_FORMAT": return logFormat.rawValue
        case "CHATIFY_RESOURCES": return resourcesDirectory
        case "SOCKETIO_CLIENT_JS": return socketIOClientScript
        case "REDIS_URL": return redisURL.map(Self.maskingPassword(inURI:))
        case "REDIS_TLS_CA_FILE": return redisTLSCAFile
        case "REDIS_TLS_CERT_FILE": return redisTLSCertificateFile
        case "REDIS_TLS_KEY_FILE": return redisTLSKeyFile
        case "REDIS_ADAPTER": return redisAdapter
        case "REDIS_SUBSCRIPTION_MODE": return redisSubscriptionMode
        case "REDIS_CLUSTER": return String(redisCluster)
        case "REDIS_STREAM_NAME": return redisStreamName
        case "REDIS_STREAM_MAXLEN": return "\(redisStreamMaxLength)"
        case "REDIS_STREAM_COUNT": return "\(redisStreamCount)"
        case "REDIS_STREAM_SHARDED_PUBSUB": return String(redisStreamShardedPubSub)
        case "CHATIFY_NODE_ID": return nodeID
        case "TRUST_PROXY_HEADERS": return flag(trustProxyHeaders)
        case "TRUSTED_PROXY_COUNT": return "\(trustedProxyCount)"
        case "SHUTDOWN_GRACE": return "\(shutdownGrace)"
        case "MAX_PAYLOAD": return "\(maxPayload)"
        case "MAX_CONNECTIONS_PER_IP": return "\(maxConnectionsPerAddress)"
        case "MAX_TCP_CONNECTIONS_PER_IP": return "\(transport.connectionLimits.maxConnectionsPerAddress ?? 0)"
        case "HTTP_HEADERS_TIMEOUT": return seconds(transport.connectionLimits.headersTimeout)
        case "HTTP_KEEP_ALIVE_TIMEOUT": return seconds(transport.connectionLimits.keepAliveTimeout)
        case "HTTP_REQUEST_TIMEOUT": return seconds(transport.connectionLimits.requestTimeout)
        case "MAX_CONNECTIONS_PER_USER": return "\(eventLimits.connectionsPerUser)"
        case "SOCKET_EVENTS_PER_SECOND": return "\(eventLimits.eventsPerSocketPerSecond)"
        case "USER_EVENTS_PER_SECOND": return "\(eventLimits.eventsPerUserPerSecond)"
        case "MAX_ROOMS_PER_SOCKET": return "\(eventLimits.roomsPerSocket)"
        case "LOGIN_SLOW_AFTER": return "\(loginSlowAfter)"
        case "LOGIN_REFUSE_AFTER": return "\(loginRefuseAfter)"
        case "REGISTRATIONS_PER_HOUR": return "\(registrationsPerHour)"
        case "CONNECTION_STATE_RECOVERY": return "\(connectionStateRecovery)"
        case "ALLOW_EIO3": return flag(allowEIO3)
        case "HTTP_COMPRESSION": return flag(transport.httpCompression)
        case "HTTP_COMPRESSION_THRESHOLD": return "\(transport.httpCompressionThreshold)"
        case "WS_PER_MESSAGE_DEFLATE": return flag(transport.perMessageDeflate)
        case "WS_PER_MESSAGE_DEFLATE_THRESHOLD": return "\(transport.perMessageDeflateThreshold)"
        case "TLS_CERT_FILE": return transport.tls?.certificateFile
        case "TLS_KEY_FILE": return transport.tls?.keyFile
        default: return nil
        }
    }

    static let masked = "********"

    /// `scheme://user:password@host/...` with the password (and the value of any query
    /// option whose name mentions a password) replaced by the mask.
    static func maskingPassword(inURI uri: String) -> String {
        guard let schemeEnd = uri.range(of: "://") else { return uri }
        let rest = uri[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var authority = String(rest[..<authorityEnd])
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                authority = String(userInfo[...colon]) + masked + String(authority[at...])
            }
        }
        var tail = String(rest[authorityEnd...])
        if let question = tail.firstIndex(of: "?") {
            let options = tail[tail.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false)
                .map { option in
                    guard let equals = option.firstIndex(of: "="), option[..<equals].lowercased().contains("password")
                    else {
                        return String(option)
                    }
                    return String(option[...equals]) + masked
                }
            tail = String(tail[...question]) + options.joined(separator: "&")
        }
        return String(uri[..<schemeEnd.upperBound]) + authority + tail
    }
}
