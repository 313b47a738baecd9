import time


def handler(event, context):
    time.sleep(0.5)  # a slow warehouse
    return {"reservation": f"R-{event['orderId']}"}
