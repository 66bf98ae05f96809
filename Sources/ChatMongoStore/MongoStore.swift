import ChatDomain
