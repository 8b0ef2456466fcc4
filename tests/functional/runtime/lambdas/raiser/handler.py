def function_handler(event, context):
    raise ValueError('boom: {}'.format(event.get('why')))
