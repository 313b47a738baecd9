PRICES = {"apple": 120, "pear": 90, "fig": 250}


def handler(event, context):
    return {"total": sum(PRICES.get(item, 100) for item in event["items"])}
