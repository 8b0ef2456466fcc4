raise RuntimeError('this module fails at import on purpose')


def function_handler(event, context):
    return 'never'
