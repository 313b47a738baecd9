"""RabbitMQ:SendMessage, Redis:SendMessage and NATS:SendMessage: publish to the brokers named in
``[brokers.<name>]`` (docs/brokers.md). Each client library is an optional extra, imported when a
task first publishes."""

from stateway.integrations.brokers._base import BrokerIntegration, redact
from stateway.integrations.brokers._nats import NATSSendMessage
from stateway.integrations.brokers._rabbitmq import RabbitMQSendMessage
from stateway.integrations.brokers._redis import RedisSendMessage

BROKER_INTEGRATIONS = [RabbitMQSendMessage, RedisSendMessage, NATSSendMessage]

__all__ = ["BROKER_INTEGRATIONS", "BrokerIntegration", "NATSSendMessage", "RabbitMQSendMessage", "RedisSendMessage",
           "redact"]
