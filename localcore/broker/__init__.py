"""MQTT 3.1.1 broker of the local core (mutual TLS, routing through the subscription table)."""
from localcore.broker.auth import CertificateAuthorizer
from localcore.broker.errors import BrokerError, ProtocolError
from localcore.broker.server import Broker
from localcore.broker.tls import server_ssl_context

__all__ = ["Broker", "BrokerError", "CertificateAuthorizer", "ProtocolError", "server_ssl_context"]
