"""Uses the stream manager with the token and port the runtime put in its environment."""
from greengrasssdk.stream_manager import (MessageStreamDefinition, Persistence, ReadMessagesOptions,
                                          StrategyOnFull, StreamManagerClient)


def function_handler(event, context):
    client = StreamManagerClient()
    try:
        client.create_message_stream(MessageStreamDefinition(
            name=event['stream'], strategy_on_full=StrategyOnFull.OverwriteOldestData,
            persistence=Persistence.Memory))
        sequence = client.append_message(event['stream'], event['data'].encode('utf-8'))
        messages = client.read_messages(event['stream'], ReadMessagesOptions(
            desired_start_sequence_number=sequence, min_message_count=1, read_timeout_millis=2000))
        return {'sequence': sequence, 'read': [m.payload.decode('utf-8') for m in messages]}
    finally:
        client.close()
