"""What the tests share and are not tests themselves: real servers started on free ports, local
peers (issuers, providers, introspection and userinfo services, an echo upstream), the in-memory
fakes of the core's ports and a clock the tests drive."""
